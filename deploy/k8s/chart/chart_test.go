package chart

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	componentsv1alpha1 "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The chart under test and its values profiles. SECURE_AGENT_CHART points
// the tests at another chart directory (e.g. testdata/minichart).
var (
	chartDir    = envOr("SECURE_AGENT_CHART", "../../../charts/secure-agent")
	profilesDir = "../testdata/profiles"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var kedaCaps = Capabilities{APIVersions: []string{"keda.sh/v1alpha1"}}

// capsCases: KEDA installed or not (the chart renders a ScaledObject only
// when the cluster serves keda.sh/v1alpha1).
var capsCases = []struct {
	name string
	caps Capabilities
	keda bool
}{
	{"keda", kedaCaps, true},
	{"no-keda", Capabilities{}, false},
}

// profileCase: what each values profile must render (component types by
// component name).
type profileCase struct {
	file       string
	components map[string]string
}

var profileCases = []profileCase{
	{"default.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.kubernetes", "staging": "bindings.aws.s3", "destination": "bindings.aws.s3",
	}},
	{"redis.yaml", map[string]string{
		"pubsub": "pubsub.redis", "statestore": "state.redis", "healthstore": "state.redis",
		"secrets": "secretstores.kubernetes", "staging": "bindings.aws.s3",
	}},
	{"secretstore-kubernetes.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.kubernetes", "staging": "bindings.aws.s3", "destination": "bindings.aws.s3",
	}},
	{"secretstore-aws.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.aws.secretmanager", "staging": "bindings.aws.s3", "destination": "bindings.aws.s3",
	}},
	{"secretstore-azure.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.azure.keyvault", "staging": "bindings.azure.blobstorage", "destination": "bindings.azure.blobstorage",
	}},
	{"secretstore-vault.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.hashicorp.vault", "staging": "bindings.aws.s3",
	}},
	{"secretstore-gcp.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.gcp.secretmanager", "staging": "bindings.gcp.bucket", "destination": "bindings.gcp.bucket",
	}},
	{"objectstore-s3.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.kubernetes", "staging": "bindings.aws.s3", "destination": "bindings.aws.s3",
	}},
	{"objectstore-azureblob.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.kubernetes", "staging": "bindings.azure.blobstorage", "destination": "bindings.azure.blobstorage",
	}},
	{"objectstore-gcs.yaml", map[string]string{
		"pubsub": "pubsub.jetstream", "statestore": "state.postgresql", "healthstore": "state.postgresql",
		"secrets": "secretstores.kubernetes", "staging": "bindings.gcp.bucket", "destination": "bindings.gcp.bucket",
	}},
}

var apps = []string{"orchestrator", "extractor", "publisher", "health"}

// render caches one render per profile and capability set.
var (
	renderMu    sync.Mutex
	renderCache = map[string]renderResult{}
)

type renderResult struct {
	objs []Object
	err  error
}

func render(t *testing.T, profile string, caps Capabilities) []Object {
	t.Helper()
	key := profile + "|" + strings.Join(caps.APIVersions, ",")
	renderMu.Lock()
	r, ok := renderCache[key]
	if !ok {
		r.objs, r.err = RenderFile(chartDir, filepath.Join(profilesDir, profile), caps)
		renderCache[key] = r
	}
	renderMu.Unlock()
	require.NoError(t, r.err, "helm render of profile %s", profile)
	return r.objs
}

// Every profile file has a case and every case a file.
func TestProfilesAreAllCovered(t *testing.T) {
	files, err := Profiles(profilesDir)
	require.NoError(t, err)
	var onDisk, inTable []string
	for _, f := range files {
		onDisk = append(onDisk, filepath.Base(f))
	}
	for _, c := range profileCases {
		inTable = append(inTable, c.file)
	}
	sort.Strings(onDisk)
	sort.Strings(inTable)
	require.Equal(t, inTable, onDisk, "values profiles in %s vs the table in chart_test.go", profilesDir)
}

// (a) Each profile validates against values.schema.json and renders with
// Helm v4, with and without KEDA.
func TestProfilesRender(t *testing.T) {
	for _, pc := range profileCases {
		t.Run(strings.TrimSuffix(pc.file, ".yaml"), func(t *testing.T) {
			vals, err := ReadValuesFile(filepath.Join(profilesDir, pc.file))
			require.NoError(t, err)
			require.NoError(t, ValidateValues(chartDir, vals), "values.schema.json")

			for _, cc := range capsCases {
				t.Run(cc.name, func(t *testing.T) {
					objs := render(t, pc.file, cc.caps)

					deployments := map[string]Object{}
					components := map[string]string{}
					scaledObjects, testPods := 0, 0
					for _, o := range objs {
						switch o.Kind {
						case "Deployment":
							deployments[o.Name] = o
						case "Component":
							d, err := Decode(o)
							require.NoError(t, err)
							c := d.(*componentsv1alpha1.Component)
							components[c.Name] = c.Spec.Type
						case "ScaledObject":
							scaledObjects++
						case "Pod":
							require.True(t, o.Hook, "%s: a bare Pod outside a hook", o)
							testPods++
						}
					}
					for _, app := range apps {
						require.Contains(t, deployments, ReleaseName+"-"+app)
					}
					require.Len(t, deployments, len(apps))
					require.Equal(t, pc.components, components, "Dapr components (name: type)")
					require.Equal(t, 1, testPods, "the helm test Pod")

					extractor := deployments[ReleaseName+"-extractor"]
					d, err := Decode(extractor)
					require.NoError(t, err)
					dep := d.(*appsv1.Deployment)
					if cc.keda {
						require.Equal(t, 1, scaledObjects, "a ScaledObject when keda.sh/v1alpha1 is served")
						require.Nil(t, dep.Spec.Replicas, "KEDA owns the extractor's replicas")
					} else {
						require.Zero(t, scaledObjects, "no ScaledObject without keda.sh/v1alpha1")
						require.NotNil(t, dep.Spec.Replicas)
					}
				})
			}
		})
	}
}

// KEDA: the ScaledObject targets the extractor and its trigger matches the
// broker of the profile.
func TestScaledObject(t *testing.T) {
	for _, tc := range []struct{ profile, trigger string }{
		{"default.yaml", "nats-jetstream"},
		{"redis.yaml", "redis-streams"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			var found bool
			for _, o := range render(t, tc.profile, kedaCaps) {
				if o.Kind != "ScaledObject" {
					continue
				}
				d, err := Decode(o)
				require.NoError(t, err)
				so := d.(*kedav1alpha1.ScaledObject)
				require.Equal(t, ReleaseName+"-extractor", so.Spec.ScaleTargetRef.Name)
				require.NotEmpty(t, so.Spec.Triggers)
				require.Equal(t, tc.trigger, so.Spec.Triggers[0].Type)
				found = true
			}
			require.True(t, found, "no ScaledObject")
		})
	}
}

// (b) Bad values are refused, by values.schema.json or by the templates,
// with a message that names the key.
func TestBadValuesRefused(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]any
		want   []string // substrings of the error
	}{
		{"unknown top-level key", map[string]any{"replicaCount": 3},
			[]string{"replicaCount"}},
		{"unknown nested key", map[string]any{"pubsub": map[string]any{"jetstream": map[string]any{"natsUrl": "nats://x:4222"}}},
			[]string{"/pubsub/jetstream", "natsUrl"}},
		{"wrong type", map[string]any{"extractor": map[string]any{"replicas": "two"}},
			[]string{"/extractor/replicas", "string"}},
		{"bad enum: pubsub type kafka", map[string]any{"pubsub": map[string]any{"type": "kafka"}},
			[]string{"/pubsub/type", "jetstream"}},
		{"bad enum: secret store type", map[string]any{"secretStore": map[string]any{"type": "keepass"}},
			[]string{"/secretStore/type", "vault"}},
		{"vault without address", map[string]any{"secretStore": map[string]any{"type": "vault"}},
			[]string{"secretStore.vault.address"}},
		// A patternProperties false schema, so the validator reports the
		// key's own location (a propertyNames rule is reported at a wrong,
		// varying location by santhosh-tekuri/jsonschema v6.0.3).
		{"credential-looking env var", map[string]any{"extractor": map[string]any{"env": map[string]any{"DB_PASSWORD": "hunter2"}}},
			[]string{"/extractor/env/DB_PASSWORD"}},
		{"lower-case env var", map[string]any{"extractor": map[string]any{"env": map[string]any{"http_proxy": "x"}}},
			[]string{"/extractor/env", "http_proxy"}},
		{"password in values", map[string]any{"pubsub": map[string]any{"redis": map[string]any{"password": "hunter2"}}},
			[]string{"/pubsub/redis", "password"}},
		{"token in values", map[string]any{"secretStore": map[string]any{"vault": map[string]any{"token": "s.abc"}}},
			[]string{"/secretStore/vault", "token"}},
		{"digest not sha256", map[string]any{"image": map[string]any{"digests": map[string]any{"extractor": "latest"}}},
			[]string{"/image/digests/extractor"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, err := ReadValuesFile(filepath.Join(profilesDir, "default.yaml"))
			require.NoError(t, err)
			vals := merge(base, tc.values)
			_, err = Render(chartDir, vals, kedaCaps)
			require.Error(t, err, "values %v must be refused", tc.values)
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// merge returns a deep copy of base with over laid on top.
func merge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// (c) Every rendered object strict-decodes into its Go type.
func TestStrictDecode(t *testing.T) {
	for _, pc := range profileCases {
		for _, cc := range capsCases {
			t.Run(strings.TrimSuffix(pc.file, ".yaml")+"/"+cc.name, func(t *testing.T) {
				objs := render(t, pc.file, cc.caps)
				_, err := DecodeAll(objs)
				require.NoError(t, err)
			})
		}
	}
}

// The decoder is strict: unknown fields and kinds are errors naming them.
func TestDecodeIsStrict(t *testing.T) {
	obj := func(js string) Object {
		var head struct{ APIVersion, Kind string }
		head.APIVersion, head.Kind = "apps/v1", "Deployment"
		if strings.Contains(js, `"kind":"Component"`) {
			head.APIVersion, head.Kind = "dapr.io/v1alpha1", "Component"
		}
		if strings.Contains(js, `"kind":"Widget"`) {
			head.APIVersion, head.Kind = "example.com/v1", "Widget"
		}
		return Object{Source: "test.yaml", APIVersion: head.APIVersion, Kind: head.Kind, Name: "x", JSON: []byte(js)}
	}
	_, err := Decode(obj(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"template":{"spec":{"containers":[{"name":"a","image":"b","securityContex":{}}]}}}}`))
	require.ErrorContains(t, err, `unknown field "spec.template.spec.containers[0].securityContex"`)
	require.ErrorContains(t, err, "Deployment/x (test.yaml)")

	_, err = Decode(obj(`{"apiVersion":"dapr.io/v1alpha1","kind":"Component","metadata":{"name":"x"},"spec":{"type":"state.redis","version":"v1","metadata":[{"name":"a","value":"b","valueFrom":{}}]}}`))
	require.ErrorContains(t, err, `unknown field "spec.metadata[0].valueFrom"`)

	_, err = Decode(obj(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":"2"}}`))
	require.ErrorContains(t, err, "replicas")

	_, err = Decode(obj(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"x"}}`))
	require.ErrorContains(t, err, "unknown kind example.com/v1, Kind=Widget")
}

// (d) Every pod the chart renders (the four Deployments' templates and the
// helm test Pod) passes Pod Security "restricted" after Dapr's injector adds
// daprd, when Dapr runs with sidecarDropALLCapabilities=true; with Dapr's
// default (false) exactly the capabilities check fails, for daprd.
func TestPodSecurityRestrictedAfterInjection(t *testing.T) {
	for _, pc := range profileCases {
		t.Run(strings.TrimSuffix(pc.file, ".yaml"), func(t *testing.T) {
			pods, err := PodTemplates(render(t, pc.file, kedaCaps))
			require.NoError(t, err)
			require.Len(t, pods, len(apps)+1, "four Deployments and the helm test Pod")

			for _, p := range pods {
				t.Run(p.Object.Kind+"/"+p.Object.Name, func(t *testing.T) {
					// Dapr installed with sidecarDropALLCapabilities=true.
					pod, err := DefaultInjector(true).Inject(Namespace, p.Meta, p.Spec)
					require.NoError(t, err)
					requireContainer(t, pod.Spec.Containers, "daprd")
					failures, err := RestrictedFailures(pod)
					require.NoError(t, err)
					for _, f := range failures {
						t.Errorf("restricted, dropALL=true: %s", f)
					}

					// Dapr's default injector (sidecarDropALLCapabilities=false).
					pod, err = DefaultInjector(false).Inject(Namespace, p.Meta, p.Spec)
					require.NoError(t, err)
					failures, err = RestrictedFailures(pod)
					require.NoError(t, err)
					for _, f := range failures {
						t.Logf("restricted, dropALL=false fails: %s", f)
					}
					require.Len(t, failures, 1, "with Dapr's default injector exactly one check fails")
					require.Equal(t, "capabilities_restricted", failures[0].Check)
					require.Equal(t, "unrestricted capabilities", failures[0].Reason)
					require.Contains(t, failures[0].Detail, `"daprd"`)
					for _, c := range pod.Spec.Containers {
						if c.Name != "daprd" {
							require.NotContains(t, failures[0].Detail, `"`+c.Name+`"`, "only daprd lacks drop ALL")
						}
					}
				})
			}
		})
	}
}

func requireContainer(t *testing.T, containers []corev1.Container, name string) {
	t.Helper()
	var names []string
	for _, c := range containers {
		if c.Name == name {
			return
		}
		names = append(names, c.Name)
	}
	t.Fatalf("no container %q after injection (containers: %v)", name, names)
}

// The Pod Security evaluation is not vacuous: a chart pod without its
// pod-level securityContext fails restricted, naming the checks.
func TestRestrictedFailuresNameTheChecks(t *testing.T) {
	pods, err := PodTemplates(render(t, "default.yaml", kedaCaps))
	require.NoError(t, err)
	require.NotEmpty(t, pods)
	p := pods[0]
	p.Spec.SecurityContext = nil
	pod, err := DefaultInjector(true).Inject(Namespace, p.Meta, p.Spec)
	require.NoError(t, err)
	failures, err := RestrictedFailures(pod)
	require.NoError(t, err)
	var checks []string
	for _, f := range failures {
		checks = append(checks, f.Check)
	}
	require.Contains(t, checks, "seccompProfile_restricted", "%v", failures)
}
