// Package controlplane is the reference SaaS control plane the agent talks
// to in tests: the server side of docs/controlplane-api.yaml over real HTTPS
// (a CA generated per server), an OAuth 2.0 client-credentials token
// endpoint, leased long-poll work, status, heartbeats, log and file ingest,
// and the failure modes a real tenant has (rate limits, 5xx, slow answers,
// dropped connections, expired tokens, rotated secrets), injectable at
// runtime through Go methods or a plain-HTTP admin API on loopback.
//
// It serves HTTP/1.1 only, so a dropped-connection fault can hijack the
// connection.
package controlplane
