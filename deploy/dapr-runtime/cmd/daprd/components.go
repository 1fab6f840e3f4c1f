package main

// The components this daprd registers: exactly the types the chart
// (charts/secure-agent) and the local stacks (components/, deploy/local)
// can configure, and nothing else. Upstream's -tags stablecomponents
// compiles in about a hundred components-contrib packages (Kafka, Dubbo,
// MongoDB, Pulsar, SQL Server...) that the agent never loads; each is
// attack surface, image size and build time, and three types the chart
// offers (aws.secretmanager, gcp.secretmanager, gcp.bucket) are not even
// among them. deploy/k8s reads the registrations in this file to check
// every component the chart renders, so the chart cannot name a type this
// daprd lacks. See docs/adr/0002-dapr-runtime-from-source.md.
//
// Each call is upstream's own (dapr v1.16.5 cmd/daprd/components/*.go).

import (
	s3 "github.com/dapr/components-contrib/bindings/aws/s3"
	azblob "github.com/dapr/components-contrib/bindings/azure/blobstorage"
	gcpbucket "github.com/dapr/components-contrib/bindings/gcp/bucket"
	"github.com/dapr/components-contrib/bindings/localstorage"
	nrkubernetes "github.com/dapr/components-contrib/nameresolution/kubernetes"
	"github.com/dapr/components-contrib/nameresolution/mdns"
	nrsqlite "github.com/dapr/components-contrib/nameresolution/sqlite"
	pubsubinmemory "github.com/dapr/components-contrib/pubsub/in-memory"
	"github.com/dapr/components-contrib/pubsub/jetstream"
	pubsubredis "github.com/dapr/components-contrib/pubsub/redis"
	awssecretmanager "github.com/dapr/components-contrib/secretstores/aws/secretmanager"
	"github.com/dapr/components-contrib/secretstores/azure/keyvault"
	gcpsecretmanager "github.com/dapr/components-contrib/secretstores/gcp/secretmanager"
	"github.com/dapr/components-contrib/secretstores/hashicorp/vault"
	sskubernetes "github.com/dapr/components-contrib/secretstores/kubernetes"
	"github.com/dapr/components-contrib/secretstores/local/env"
	"github.com/dapr/components-contrib/secretstores/local/file"
	stateinmemory "github.com/dapr/components-contrib/state/in-memory"
	pgv1 "github.com/dapr/components-contrib/state/postgresql/v1"
	pgv2 "github.com/dapr/components-contrib/state/postgresql/v2"
	stateredis "github.com/dapr/components-contrib/state/redis"
	statesqlite "github.com/dapr/components-contrib/state/sqlite"
	"github.com/dapr/dapr/pkg/components"
	bindingsLoader "github.com/dapr/dapr/pkg/components/bindings"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	secretstoresLoader "github.com/dapr/dapr/pkg/components/secretstores"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
)

func init() {
	// Pub/sub: JetStream (default), Redis Streams, in-memory (tests).
	pubsubLoader.DefaultRegistry.RegisterComponent(jetstream.NewJetStream, "jetstream")
	pubsubLoader.DefaultRegistry.RegisterComponent(pubsubredis.NewRedisStreams, "redis")
	pubsubLoader.DefaultRegistry.RegisterComponent(pubsubinmemory.New, "in-memory")

	// State: PostgreSQL (v1 and v2, as upstream), Redis, SQLite (the embedded default), in-memory.
	stateLoader.DefaultRegistry.RegisterComponentWithVersions("postgresql", components.Versioning{
		Preferred: components.VersionConstructor{Version: "v2", Constructor: pgv2.NewPostgreSQLStateStore},
		Others:    []components.VersionConstructor{{Version: "v1", Constructor: pgv1.NewPostgreSQLStateStore}},
		Default:   "v1",
	})
	stateLoader.DefaultRegistry.RegisterComponent(stateredis.NewRedisStateStore, "redis")
	stateLoader.DefaultRegistry.RegisterComponent(statesqlite.NewSQLiteStateStore, "sqlite", "sqlite3")
	stateLoader.DefaultRegistry.RegisterComponent(stateinmemory.NewInMemoryStateStore, "in-memory")

	// Secret stores: the local file (laptops), the environment, and the vaults the chart supports.
	secretstoresLoader.DefaultRegistry.RegisterComponent(file.NewLocalSecretStore, "local.file")
	secretstoresLoader.DefaultRegistry.RegisterComponent(env.NewEnvSecretStore, "local.env")
	secretstoresLoader.DefaultRegistry.RegisterComponent(sskubernetes.NewKubernetesSecretStore, "kubernetes")
	secretstoresLoader.DefaultRegistry.RegisterComponent(vault.NewHashiCorpVaultSecretStore, "hashicorp.vault")
	secretstoresLoader.DefaultRegistry.RegisterComponent(awssecretmanager.NewSecretManager, "aws.secretmanager")
	secretstoresLoader.DefaultRegistry.RegisterComponent(keyvault.NewAzureKeyvaultSecretStore, "azure.keyvault")
	secretstoresLoader.DefaultRegistry.RegisterComponent(gcpsecretmanager.NewSecreteManager, "gcp.secretmanager")

	// Output bindings: the publisher's staging and destination stores.
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(localstorage.NewLocalStorage, "localstorage")
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(s3.NewAWSS3, "aws.s3")
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(azblob.NewAzureBlobStorage, "azure.blobstorage")
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(gcpbucket.NewGCPStorage, "gcp.bucket")

	// Name resolution: SQLite (the local stacks, ADR 0007), mDNS (daprd's
	// standalone default) and Kubernetes (its default in a cluster).
	nrLoader.DefaultRegistry.RegisterComponent(nrsqlite.NewResolver, "sqlite")
	nrLoader.DefaultRegistry.RegisterComponent(mdns.NewResolver, "mdns")
	nrLoader.DefaultRegistry.RegisterComponent(nrkubernetes.NewResolver, "kubernetes")
}
