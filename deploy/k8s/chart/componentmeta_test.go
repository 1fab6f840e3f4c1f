package chart

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dapr/dapr/pkg/apis/common"
	componentsv1alpha1 "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

var (
	contribOnce sync.Once
	contrib     *ContribMetadata
	contribErr  error
)

func contribMetadata(t *testing.T) *ContribMetadata {
	t.Helper()
	contribOnce.Do(func() { contrib, contribErr = LoadContribMetadata("../../dapr-runtime/cmd/daprd") })
	require.NoError(t, contribErr)
	return contrib
}

// The runtime's components-contrib is the one checked against.
func TestContribVersionIsTheRuntimes(t *testing.T) {
	raw, err := os.ReadFile("../../dapr-runtime/go.mod")
	require.NoError(t, err)
	require.Contains(t, string(raw), "github.com/dapr/components-contrib "+contribMetadata(t).Version+"\n",
		"deploy/k8s and deploy/dapr-runtime must use the same components-contrib")
}

// (e) Every rendered Component's metadata keys are in components-contrib's
// metadata.yaml for its type and version.
func TestComponentMetadataKeys(t *testing.T) {
	cm := contribMetadata(t)
	for _, pc := range profileCases {
		t.Run(strings.TrimSuffix(pc.file, ".yaml"), func(t *testing.T) {
			n := 0
			for _, o := range render(t, pc.file, kedaCaps) {
				if o.Kind != "Component" {
					continue
				}
				d, err := Decode(o)
				require.NoError(t, err)
				require.NoError(t, cm.Check(d.(*componentsv1alpha1.Component)), "%s", o)
				n++
			}
			require.NotZero(t, n, "no Components rendered")
		})
	}
}

// The local stack's component profiles pass the same checks.
func TestLocalComponentMetadataKeys(t *testing.T) {
	cm := contribMetadata(t)
	for _, dir := range []string{"../../../components/local", "../../../components/redis"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		require.NoError(t, err)
		require.NotEmpty(t, files, dir)
		for _, f := range files {
			t.Run(filepath.Base(dir)+"/"+filepath.Base(f), func(t *testing.T) {
				raw, err := os.ReadFile(f)
				require.NoError(t, err)
				objs, err := splitManifest("# Source: "+f+"\n"+string(raw), false)
				require.NoError(t, err)
				for _, o := range objs {
					d, err := Decode(o)
					require.NoError(t, err)
					if c, ok := d.(*componentsv1alpha1.Component); ok {
						require.NoError(t, cm.Check(c), "%s", o)
					}
				}
			})
		}
	}
}

// The checker itself: an unknown key fails naming component, type and key;
// builtins resolve from components-contrib's sources.
func nameValue(k string) common.NameValuePair {
	return common.NameValuePair{Name: k, Value: common.DynamicValue{JSON: apiextensionsv1.JSON{Raw: []byte(`"x"`)}}}
}

func TestComponentMetadataChecker(t *testing.T) {
	cm := contribMetadata(t)
	comp := func(typ, version string, keys ...string) *componentsv1alpha1.Component {
		c := &componentsv1alpha1.Component{}
		c.Name = "mycomp"
		c.Spec.Type, c.Spec.Version = typ, version
		for _, k := range keys {
			c.Spec.Metadata = append(c.Spec.Metadata, nameValue(k))
		}
		return c
	}

	err := cm.Check(comp("pubsub.jetstream", "v1", "natsURL", "natsUrl"))
	require.ErrorContains(t, err, `component "mycomp" (pubsub.jetstream v1): unknown metadata key "natsUrl"`)
	require.ErrorContains(t, err, "pubsub/jetstream/metadata.yaml")

	require.ErrorContains(t, cm.Check(comp("pubsub.kafkaa", "v1")), `registers no component type "pubsub.kafkaa"`)
	require.ErrorContains(t, cm.Check(comp("state.postgresql", "v3")), `registers state.postgresql in versions ["v1" "v2"], not "v3"`)

	// Types resolve through daprd's registrations to the implementing
	// package's metadata.yaml (whose own "name" may differ: aws.secretsmanager).
	for _, tc := range []struct{ typ, version, file string }{
		{"secretstores.aws.secretmanager", "v1", "secretstores/aws/secretmanager/metadata.yaml"},
		{"state.postgresql", "v2", "state/postgresql/v2/metadata.yaml"},
		{"state.postgresql", "", "state/postgresql/v1/metadata.yaml"},
		{"pubsub.jetstream", "", "pubsub/jetstream/metadata.yaml"},
		{"bindings.gcp.bucket", "v1", "bindings/gcp/bucket/metadata.yaml"},
	} {
		s, err := cm.Schema(tc.typ, tc.version)
		require.NoError(t, err, "%s %s", tc.typ, tc.version)
		require.Equal(t, tc.file, filepath.ToSlash(s.File), "%s %s", tc.typ, tc.version)
	}
	require.ErrorContains(t, cm.Check(comp("state.redis", "v1", "redisHost", "redisHost")), "set twice")
	// Our daprd, not upstream's stablecomponents list: Kafka is upstream's,
	// not ours, and the chart must not be able to render it.
	require.ErrorContains(t, cm.Check(comp("pubsub.kafka", "v1")), `registers no component type "pubsub.kafka"`)

	for _, tc := range []struct {
		typ, version string
		keys         []string
	}{
		// metadata, authenticationProfiles, pub/sub scoping and consumerID
		{"pubsub.jetstream", "v1", []string{"natsURL", "jwt", "seedKey", "publishingScopes", "subscriptionScopes", "allowedTopics", "protectedTopics", "consumerID"}},
		// state builtins and azuread builtin metadata
		{"state.postgresql", "v2", []string{"connectionString", "actorStateStore", "keyPrefix", "useAzureAD"}},
		// builtin aws profile (common/authentication/aws)
		{"bindings.aws.s3", "v1", []string{"bucket", "region", "awsRegion", "accessKey", "assumeRoleArn", "trustAnchorArn"}},
		// builtin azuread profile (common/authentication/azure MetadataKeys)
		{"secretstores.azure.keyvault", "v1", []string{"vaultName", "azureClientId", "azureTenantId", "azureEnvironment"}},
		// builtin gcp profile (the component's mdignore fields and aliases)
		{"secretstores.gcp.secretmanager", "v1", []string{"projectID", "project_id", "privateKey"}},
	} {
		require.NoError(t, cm.Check(comp(tc.typ, tc.version, tc.keys...)), "%s %s", tc.typ, tc.version)
	}

	// Storage names of the azure MetadataKeys are not authentication metadata.
	require.ErrorContains(t, cm.Check(comp("secretstores.azure.keyvault", "v1", "containerName")), `unknown metadata key "containerName"`)
	// State builtins for every state store (the runtime parses them).
	s, err := cm.Schema("state.sqlite", "v1")
	require.NoError(t, err)
	require.Contains(t, s.Keys, "actorStateStore")
	// Builtin profile keys are not offered to components without the profile.
	require.ErrorContains(t, cm.Check(comp("secretstores.hashicorp.vault", "v1", "vaultAddr", "azureClientId")), `unknown metadata key "azureClientId"`)
}

// Registrations behind a build tag are refused: whether they are in the
// binary depends on how it was built, which is what the check must not guess.
func TestRegistrationsRefuseBuildTags(t *testing.T) {
	dir := t.TempDir()
	src := "//go:build allcomponents\n\npackage components\n\nimport (\n\t\"github.com/dapr/components-contrib/pubsub/kafka\"\n\tpubsubLoader \"github.com/dapr/dapr/pkg/components/pubsub\"\n)\n\nfunc init() {\n\tpubsubLoader.DefaultRegistry.RegisterComponent(kafka.NewKafka, \"kafka\")\n}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pubsub_kafka.go"), []byte(src), 0o600))
	_, err := daprdRegistrations(dir)
	require.ErrorContains(t, err, "has a //go:build line")
}
