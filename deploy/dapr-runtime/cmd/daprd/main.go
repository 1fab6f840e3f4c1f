// Command daprd is the upstream Dapr sidecar with pubsub.jetstream added.
//
// Upstream ships JetStream only under -tags allcomponents, which does not
// compile with Go 1.26; we build with -tags stablecomponents and register the
// JetStream pub/sub ourselves (see docs/adr/0002-dapr-runtime-from-source.md).
package main

import (
	"github.com/dapr/components-contrib/pubsub"
	"github.com/dapr/components-contrib/pubsub/jetstream"
	"github.com/dapr/dapr/cmd/daprd/app"
	_ "github.com/dapr/dapr/cmd/daprd/components"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	"github.com/dapr/kit/logger"
)

func init() {
	pubsubLoader.DefaultRegistry.RegisterComponent(func(l logger.Logger) pubsub.PubSub {
		return jetstream.NewJetStream(l)
	}, "jetstream")
}

func main() {
	app.Run()
}
