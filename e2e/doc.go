// Package e2e holds the integration tests: each starts real processes (the
// Dapr runtime built by `make tools`, the services built by `make build`,
// NATS or the machine's Redis) and asserts on what really crossed them.
// Run them with `make test-integration`; SA_ROOT points at the checkout.
package e2e
