// Package install_test installs the chart on a real kube-apiserver (with
// etcd, built by `make kubetools`) through the Helm v4 library, as
// `helm install`, `helm upgrade` and `helm uninstall` do, into a namespace
// that enforces Pod Security "restricted"; then creates every pod Dapr's
// injector would produce with server-side dry run and strict field
// validation, so the API server's own admission (Pod Security included) and
// schema decide.
package install_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/secure-agent/secure-agent/deploy/k8s/chart"
	"github.com/secure-agent/secure-agent/deploy/k8s/internal/kubeenv"
)

const (
	chartDir    = "../../../charts/secure-agent"
	profileDir  = "../testdata/profiles"
	namespace   = "secure-agent"
	releaseName = "acme"
)

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	componentGVR = schema.GroupVersionResource{Group: "dapr.io", Version: "v1alpha1", Resource: "components"}
	configGVR    = schema.GroupVersionResource{Group: "dapr.io", Version: "v1alpha1", Resource: "configurations"}
	scaledGVR    = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}
)

func TestInstallUpgradeUninstallOnARealAPIServer(t *testing.T) {
	env := kubeenv.Start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kc, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(env.Config)
	require.NoError(t, err)

	crds := installCRDs(ctx, t, dyn)
	t.Logf("installed %d CRDs: %s", len(crds), strings.Join(crds, ", "))

	_, err = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: namespace,
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)

	cfg := helmConfig(t, env.Kubeconfig)
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)

	// helm install: the default profile; KEDA's API exists, so the
	// ScaledObject is rendered and must be admitted with the rest.
	vals, err := chart.ReadValuesFile(filepath.Join(profileDir, "default.yaml"))
	require.NoError(t, err)
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = releaseName, namespace
	in.WaitStrategy = kube.HookOnlyStrategy
	in.Timeout = 2 * time.Minute
	ri, err := in.RunWithContext(ctx, ch, vals)
	require.NoError(t, err, "helm install")
	rel := ri.(*release.Release)
	require.Equal(t, "deployed", rel.Info.Status.String())
	installed := manifestObjects(t, rel.Manifest)
	t.Logf("helm install created %d objects: %s", len(installed), kinds(installed))
	for _, o := range installed {
		requireExists(ctx, t, dyn, env, o)
	}
	require.Contains(t, kinds(installed), "ScaledObject")

	deps, err := kc.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, deps.Items, 4)
	hookPods := hookPods(t, rel)
	require.Len(t, hookPods, 1, "the helm test pod")

	// Every pod the injector would create from these templates is admitted
	// by the API server in the restricted namespace...
	admitted := 0
	for _, pt := range append(deploymentPods(deps.Items), hookPods...) {
		pod, err := chart.DefaultInjector(true).Inject(namespace, pt.ObjectMeta, pt.Spec)
		require.NoError(t, err)
		require.NoError(t, dryRunCreate(ctx, kc, pod), "pod of %s", pt.Name)
		admitted++
	}
	t.Logf("admitted %d injected pods (server-side dry run, strict field validation, Pod Security restricted)", admitted)

	// ...and refused when Dapr is installed without
	// dapr_sidecar_injector.sidecarDropALLCapabilities=true.
	pt := deploymentPods(deps.Items)[0]
	pod, err := chart.DefaultInjector(false).Inject(namespace, pt.ObjectMeta, pt.Spec)
	require.NoError(t, err)
	err = dryRunCreate(ctx, kc, pod)
	require.Error(t, err)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.Contains(t, err.Error(), `violates PodSecurity "restricted:latest"`)
	require.Contains(t, err.Error(), `unrestricted capabilities (container "daprd" must set securityContext.capabilities.drop=["ALL"])`)
	t.Logf("without sidecarDropALLCapabilities the API server refuses: %v", err)

	// A field the API does not know is refused too (strict validation is on).
	bad := pod.DeepCopy()
	raw, err := yaml.Marshal(bad)
	require.NoError(t, err)
	var u unstructured.Unstructured
	require.NoError(t, yaml.Unmarshal(raw, &u.Object))
	require.NoError(t, unstructured.SetNestedField(u.Object, "yes", "spec", "runAsRoot"))
	_, err = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace(namespace).
		Create(ctx, &u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
	require.ErrorContains(t, err, `unknown field "spec.runAsRoot"`)

	// helm upgrade with changed values: Redis instead of NATS and PostgreSQL,
	// three extractors, no autoscaling.
	vals, err = chart.ReadValuesFile(filepath.Join(profileDir, "redis.yaml"))
	require.NoError(t, err)
	vals["extractor"] = map[string]any{"replicas": 3}
	vals["keda"] = map[string]any{"enabled": false}
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.WaitStrategy = kube.HookOnlyStrategy
	up.Timeout = 2 * time.Minute
	ri, err = up.RunWithContext(ctx, releaseName, ch, vals)
	require.NoError(t, err, "helm upgrade")
	rel = ri.(*release.Release)
	require.Equal(t, 2, rel.Version)
	pubsub, err := dyn.Resource(componentGVR).Namespace(namespace).Get(ctx, "pubsub", metav1.GetOptions{})
	require.NoError(t, err)
	typ, _, _ := unstructured.NestedString(pubsub.Object, "spec", "type")
	require.Equal(t, "pubsub.redis", typ)
	ext, err := kc.AppsV1().Deployments(namespace).Get(ctx, releaseName+"-secure-agent-extractor", metav1.GetOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 3, *ext.Spec.Replicas)
	_, err = dyn.Resource(scaledGVR).Namespace(namespace).Get(ctx, releaseName+"-secure-agent-extractor", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the ScaledObject is gone with keda.enabled=false: %v", err)
	// The tokens survive the upgrade (the chart looks them up).
	upgraded := manifestObjects(t, rel.Manifest)
	t.Logf("helm upgrade: release v%d, %d objects", rel.Version, len(upgraded))

	// helm uninstall removes everything it created.
	un := action.NewUninstall(cfg)
	un.WaitStrategy = kube.HookOnlyStrategy
	un.Timeout = 2 * time.Minute
	_, err = un.Run(releaseName)
	require.NoError(t, err, "helm uninstall")
	for _, o := range upgraded {
		requireGone(ctx, t, dyn, env, o)
	}
	configs, err := dyn.Resource(configGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, configs.Items)
	t.Logf("helm uninstall removed all %d objects", len(upgraded))
}

// TestTokensSurviveUpgrade: a token Secret keeps its value across upgrades,
// so running pods and their sidecars keep agreeing.
func TestTokensSurviveUpgrade(t *testing.T) {
	env := kubeenv.Start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(env.Config)
	require.NoError(t, err)
	installCRDs(ctx, t, dyn)
	_, err = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := helmConfig(t, env.Kubeconfig)
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	vals, err := chart.ReadValuesFile(filepath.Join(profileDir, "default.yaml"))
	require.NoError(t, err)
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.WaitStrategy = releaseName, namespace, kube.HookOnlyStrategy
	_, err = in.RunWithContext(ctx, ch, vals)
	require.NoError(t, err)
	name := releaseName + "-secure-agent-extractor-app-token"
	before, err := kc.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, before.Data["token"], 64)
	up := action.NewUpgrade(cfg)
	up.Namespace, up.WaitStrategy = namespace, kube.HookOnlyStrategy
	_, err = up.RunWithContext(ctx, releaseName, ch, vals)
	require.NoError(t, err)
	after, err := kc.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, before.Data["token"], after.Data["token"])
}

func helmConfig(t *testing.T, kubeconfig string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	ns := namespace
	flags.Namespace = &ns
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, cfg.Init(flags, namespace, "secret"))
	return cfg
}

// installCRDs creates Dapr's CRDs (from the dapr module the runtime is built
// from) and KEDA's, and waits until the API server serves them.
func installCRDs(ctx context.Context, t *testing.T, dyn dynamic.Interface) []string {
	t.Helper()
	var files []string
	daprDir := moduleDir(t, "github.com/dapr/dapr")
	d, err := filepath.Glob(filepath.Join(daprDir, "charts", "dapr", "crds", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, d, "Dapr's CRDs in %s", daprDir)
	files = append(files, d...)
	kedaDir := moduleDir(t, "github.com/kedacore/keda/v2")
	for _, f := range []string{"keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"} {
		files = append(files, filepath.Join(kedaDir, "config", "crd", "bases", f))
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, f)
			}
			if u.GetKind() != "CustomResourceDefinition" {
				continue
			}
			_, err := dyn.Resource(crdGVR).Create(ctx, &u, metav1.CreateOptions{})
			require.NoError(t, err, "create CRD %s from %s", u.GetName(), f)
			names = append(names, u.GetName())
		}
	}
	for _, n := range names {
		require.NoError(t, waitEstablished(ctx, dyn, n), "CRD %s", n)
	}
	sort.Strings(names)
	return names
}

// waitEstablished polls the CRD's Established condition (the API server
// sets it asynchronously once it serves the new resource).
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not established: %w (last get: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go list -m %s: %s", mod, out)
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		dl := exec.Command("go", "mod", "download", mod)
		dl.Env = cmd.Env
		b, err := dl.CombinedOutput()
		require.NoError(t, err, "go mod download %s: %s", mod, b)
		again := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod)
		again.Env = cmd.Env
		out, err = again.CombinedOutput()
		require.NoError(t, err, "go list -m %s: %s", mod, out)
		dir = strings.TrimSpace(string(out))
	}
	require.DirExists(t, dir)
	return dir
}

type object struct {
	APIVersion, Kind, Name string
}

func manifestObjects(t *testing.T, manifest string) []object {
	t.Helper()
	var out []object
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
		}
		if u.Object == nil {
			continue
		}
		out = append(out, object{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName()})
	}
	require.NotEmpty(t, out)
	return out
}

func kinds(objs []object) string {
	n := map[string]int{}
	for _, o := range objs {
		n[o.Kind]++
	}
	var parts []string
	for k, c := range n {
		parts = append(parts, fmt.Sprintf("%d %s", c, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func resourceFor(t *testing.T, env *kubeenv.Env, o object) (dynamic.NamespaceableResourceInterface, bool) {
	t.Helper()
	kc, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	require.NoError(t, err)
	list, err := kc.Discovery().ServerResourcesForGroupVersion(o.APIVersion)
	require.NoError(t, err, o.APIVersion)
	for _, r := range list.APIResources {
		if r.Kind == o.Kind && !strings.Contains(r.Name, "/") {
			dyn, err := dynamic.NewForConfig(env.Config)
			require.NoError(t, err)
			return dyn.Resource(gv.WithResource(r.Name)), r.Namespaced
		}
	}
	t.Fatalf("the API server serves no %s in %s", o.Kind, o.APIVersion)
	return nil, false
}

func get(ctx context.Context, t *testing.T, env *kubeenv.Env, o object) error {
	r, namespaced := resourceFor(t, env, o)
	var err error
	if namespaced {
		_, err = r.Namespace(namespace).Get(ctx, o.Name, metav1.GetOptions{})
	} else {
		_, err = r.Get(ctx, o.Name, metav1.GetOptions{})
	}
	return err
}

func requireExists(ctx context.Context, t *testing.T, _ dynamic.Interface, env *kubeenv.Env, o object) {
	t.Helper()
	require.NoError(t, get(ctx, t, env, o), "%s %s", o.Kind, o.Name)
}

func requireGone(ctx context.Context, t *testing.T, _ dynamic.Interface, env *kubeenv.Env, o object) {
	t.Helper()
	err := get(ctx, t, env, o)
	require.True(t, apierrors.IsNotFound(err), "%s %s still exists after uninstall (%v)", o.Kind, o.Name, err)
}

type podTemplate struct {
	metav1.ObjectMeta
	Spec corev1.PodSpec
}

func deploymentPods(deps []appsv1.Deployment) []podTemplate {
	var out []podTemplate
	for _, d := range deps {
		m := d.Spec.Template.ObjectMeta
		m.Name = d.Name
		out = append(out, podTemplate{ObjectMeta: m, Spec: d.Spec.Template.Spec})
	}
	return out
}

func hookPods(t *testing.T, rel *release.Release) []podTemplate {
	t.Helper()
	var out []podTemplate
	for _, h := range rel.Hooks {
		var p corev1.Pod
		require.NoError(t, yaml.UnmarshalStrict([]byte(h.Manifest), &p), h.Path)
		if p.Kind == "Pod" {
			out = append(out, podTemplate{ObjectMeta: p.ObjectMeta, Spec: p.Spec})
		}
	}
	return out
}

func dryRunCreate(ctx context.Context, kc kubernetes.Interface, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	if p.Name == "" {
		p.GenerateName = "dry-run-"
	}
	_, err := kc.CoreV1().Pods(namespace).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
	return err
}
