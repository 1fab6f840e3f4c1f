// Command daprd is the upstream Dapr sidecar (github.com/dapr/dapr
// cmd/daprd) with our own component set (components.go) instead of
// upstream's -tags stablecomponents / allcomponents lists: the components
// the agent can be configured with, among them pubsub.jetstream and the
// SQLite name resolver, which upstream ships only under allcomponents (and
// that does not compile with Go 1.26+). The local stack resolves app ids
// through a SQLite file in its data dir instead of mDNS, so two stacks on
// one host never reach each other's apps (ADR 0007). See
// docs/adr/0002-dapr-runtime-from-source.md.
package main

import "github.com/dapr/dapr/cmd/daprd/app"

func main() {
	app.Run()
}
