// Package controlplane is the agent's outbound client to the SaaS control
// plane (docs/controlplane-api.yaml). The agent opens every connection, so
// this client is the one place that decides where the agent may talk to:
// every request — API calls, token requests, redirects and proxy tunnels —
// goes through one guarded transport that refuses hosts outside the egress
// allowlist before dialing, insists on TLS 1.2 or later, optionally pins the
// server's public key, and applies the egress rate limit.
//
// Credentials come from a SecretReader each time a token is needed and again
// after a 401, so a secret rotated in the vault needs no restart. Errors carry
// an errkind kind, the server's message and request id, never a token or a
// secret.
package controlplane
