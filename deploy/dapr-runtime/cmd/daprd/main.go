// Command daprd is the upstream Dapr sidecar with pubsub.jetstream and the
// SQLite name resolver added.
//
// Upstream ships both only under -tags allcomponents, which does not
// compile with Go 1.26; we build with -tags stablecomponents and register
// them ourselves (see docs/adr/0002-dapr-runtime-from-source.md). The local
// stack resolves app ids through a SQLite file in its data dir instead of
// mDNS, so two stacks on one host never reach each other's apps (ADR 0007).
package main

import (
	"github.com/dapr/components-contrib/nameresolution/sqlite"
	"github.com/dapr/components-contrib/pubsub"
	"github.com/dapr/components-contrib/pubsub/jetstream"
	"github.com/dapr/dapr/cmd/daprd/app"
	_ "github.com/dapr/dapr/cmd/daprd/components"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	"github.com/dapr/kit/logger"
)

func init() {
	pubsubLoader.DefaultRegistry.RegisterComponent(func(l logger.Logger) pubsub.PubSub {
		return jetstream.NewJetStream(l)
	}, "jetstream")
	nrLoader.DefaultRegistry.RegisterComponent(sqlite.NewResolver, "sqlite")
}

func main() {
	app.Run()
}
