package chart

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	injectorconsts "github.com/dapr/dapr/pkg/injector/consts"
	"github.com/dapr/dapr/pkg/injector/patcher"
	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Injector holds the settings of Dapr's sidecar injector that a default
// `helm install dapr` (1.16) gives it, except SidecarDropALLCapabilities
// (dapr_sidecar_injector.sidecarDropALLCapabilities, default false), which the
// chart requires to be true for Pod Security "restricted".
type Injector struct {
	// SidecarImage is the injector's default daprd image (the pods' annotation
	// dapr.io/sidecar-image overrides it).
	SidecarImage string
	// ControlPlaneNamespace is where Dapr runs (dapr-system).
	ControlPlaneNamespace string
	// ControlPlaneTrustDomain is Sentry's trust domain (cluster.local).
	ControlPlaneTrustDomain string
	KubeClusterDomain       string
	// SidecarDropALLCapabilities: dapr_sidecar_injector.sidecarDropALLCapabilities.
	SidecarDropALLCapabilities bool
}

// DefaultInjector is Dapr 1.16.5's injector as `helm install dapr` sets it up
// (charts/dapr in the dapr module: sidecarRunAsNonRoot and
// sidecarReadOnlyRootFilesystem true, mTLS on, control-plane trust domain
// cluster.local, one scheduler replica... ), with the given capability setting.
func DefaultInjector(dropALL bool) Injector {
	return Injector{
		SidecarImage:               "ghcr.io/dapr/daprd:1.16.5",
		ControlPlaneNamespace:      "dapr-system",
		ControlPlaneTrustDomain:    "cluster.local",
		KubeClusterDomain:          "cluster.local",
		SidecarDropALLCapabilities: dropALL,
	}
}

// Inject runs a pod (metadata and spec, e.g. a Deployment's template) through
// Dapr's injector patcher, the code of the sidecar-injector webhook, and
// returns the patched pod. A pod without dapr.io/enabled=true comes back
// unchanged.
func (inj Injector) Inject(namespace string, meta metav1.ObjectMeta, spec corev1.PodSpec) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: *meta.DeepCopy(),
		Spec:       *spec.DeepCopy(),
	}
	pod.Namespace = namespace
	if pod.Name == "" {
		pod.Name = "pod" // the webhook sees generated names; the patcher does not use them
	}

	cpNS := inj.ControlPlaneNamespace
	domain := inj.KubeClusterDomain

	// The same assignments as pkg/injector/service/pod_patch.go (1.16.5)
	// makes from the injector's configuration.
	sidecar := patcher.NewSidecarConfig(pod)
	sidecar.Mode = injectorconsts.ModeKubernetes
	sidecar.Namespace = namespace
	sidecar.MTLSEnabled = true
	sidecar.Identity = namespace + ":" + pod.Spec.ServiceAccountName
	sidecar.ImagePullPolicy = corev1.PullIfNotPresent
	sidecar.OperatorAddress = patcher.ServiceAPI.Address(cpNS, domain)
	sidecar.SentryAddress = patcher.ServiceSentry.Address(cpNS, domain)
	sidecar.RunAsNonRoot = true
	sidecar.ReadOnlyRootFilesystem = true
	sidecar.SidecarDropALLCapabilities = inj.SidecarDropALLCapabilities
	sidecar.ControlPlaneNamespace = cpNS
	sidecar.ControlPlaneTrustDomain = inj.ControlPlaneTrustDomain
	sidecar.SentrySPIFFEID = "spiffe://" + inj.ControlPlaneTrustDomain + "/ns/" + cpNS + "/dapr-sentry"
	sidecar.CurrentTrustAnchors = []byte("-----BEGIN CERTIFICATE-----\n(trust anchors)\n-----END CERTIFICATE-----\n")
	sidecar.PlacementAddress = patcher.ServicePlacement.Address(cpNS, domain)
	sidecar.SchedulerAddress = strings.Join(patcher.ServiceScheduler.AddressAllInstances(1, cpNS, domain), ",")
	sidecar.SchedulerAddressDNSA = fmt.Sprintf("dapr-scheduler-server-a.%s.svc.%s:443", cpNS, domain)
	sidecar.SidecarImage = inj.SidecarImage

	sidecar.SetFromPodAnnotations()

	patch, err := sidecar.GetPatch()
	if err != nil {
		return nil, fmt.Errorf("dapr injector patch: %w", err)
	}
	if len(patch) == 0 {
		return pod, nil
	}
	podJSON, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	// GetPatch returns an evanphx/json-patch/v5 Patch: the webhook sends it
	// to the API server as JSON; apply it here the same way.
	var _ jsonpatch.Patch = patch
	patched, err := patch.Apply(podJSON)
	if err != nil {
		return nil, fmt.Errorf("apply dapr injector patch: %w", err)
	}
	out := &corev1.Pod{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("patched pod: %w", err)
	}
	return out, nil
}

// CheckFailure is one Pod Security check a pod fails.
type CheckFailure struct {
	// Check is the check's ID in k8s.io/pod-security-admission/policy,
	// e.g. "capabilities_restricted".
	Check  string
	Reason string // e.g. "unrestricted capabilities"
	Detail string // e.g. `container "daprd" must set securityContext.capabilities.drop=["ALL"]`
}

func (f CheckFailure) String() string {
	return fmt.Sprintf("%s: %s (%s)", f.Check, f.Reason, f.Detail)
}

// RestrictedFailures evaluates a pod against Pod Security "restricted" at
// the latest policy version with the admission plugin's own checks
// (policy.DefaultChecks), and returns the checks it fails (none: allowed).
func RestrictedFailures(pod *corev1.Pod) ([]CheckFailure, error) {
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	checks := policy.DefaultChecks()

	// The verdict: all checks in one evaluator, as the admission plugin does.
	all, err := policy.NewEvaluator(checks, nil)
	if err != nil {
		return nil, err
	}
	agg := policy.AggregateCheckResults(all.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec))
	if agg.Allowed {
		return nil, nil
	}

	// Name the failing checks: evaluate each check on its own, skipping the
	// baseline checks a restricted check overrides (as the registry does).
	overridden := map[policy.CheckID]bool{}
	for _, c := range checks {
		if c.Level != psaapi.LevelRestricted {
			continue
		}
		last := c.Versions[len(c.Versions)-1]
		for _, id := range last.OverrideCheckIDs {
			overridden[id] = true
		}
	}
	var failures []CheckFailure
	for _, c := range checks {
		if overridden[c.ID] {
			continue
		}
		one, err := policy.NewEvaluator([]policy.Check{c}, nil)
		if err != nil {
			return nil, err
		}
		for _, r := range one.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
			if !r.Allowed {
				failures = append(failures, CheckFailure{Check: string(c.ID), Reason: r.ForbiddenReason, Detail: r.ForbiddenDetail})
			}
		}
	}
	sort.Slice(failures, func(i, j int) bool { return failures[i].Check < failures[j].Check })

	// Both ways must agree on the reasons.
	var got []string
	for _, f := range failures {
		got = append(got, f.Reason)
	}
	want := append([]string(nil), agg.ForbiddenReasons...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		return failures, fmt.Errorf("pod security: per-check reasons %q differ from the evaluator's %q", got, want)
	}
	return failures, nil
}

// PodTemplate is a pod spec the chart renders: a workload's template or a
// bare Pod (the `helm test` hook).
type PodTemplate struct {
	Object Object
	Meta   metav1.ObjectMeta
	Spec   corev1.PodSpec
}

// PodTemplates returns the pod templates of the Deployments and the Pods
// among the objects (decoding them strictly).
func PodTemplates(objs []Object) ([]PodTemplate, error) {
	var out []PodTemplate
	for _, o := range objs {
		if o.Kind != "Deployment" && o.Kind != "Pod" {
			continue
		}
		d, err := Decode(o)
		if err != nil {
			return nil, err
		}
		switch v := d.(type) {
		case *appsv1.Deployment:
			out = append(out, PodTemplate{Object: o, Meta: v.Spec.Template.ObjectMeta, Spec: v.Spec.Template.Spec})
		case *corev1.Pod:
			out = append(out, PodTemplate{Object: o, Meta: v.ObjectMeta, Spec: v.Spec})
		default:
			return nil, fmt.Errorf("%s: decoded as %T", o, d)
		}
	}
	return out, nil
}
