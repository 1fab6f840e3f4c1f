package stack

import (
	"fmt"
	"strings"
)

// Apps are the agent's services, in start order; stop order is the reverse.
var Apps = []string{"orchestrator", "extractor", "publisher", "health"}

// MaxExtractorReplicas bounds EXTRACTOR_REPLICAS: the second replica takes
// the app port slot after the four apps, the last one inside the 150-port
// plan. (A cluster scales replicas with its deployment, not this launcher.)
const MaxExtractorReplicas = 2

// ReplicaName is the process name of extractor replica i (1-based; replica
// 1 is plain "extractor"). Every replica has the app id "extractor".
func ReplicaName(i int) string {
	if i <= 1 {
		return "extractor"
	}
	return fmt.Sprintf("extractor-%d", i)
}

// AppIDOf maps a process-level app name (extractor-2) to its app id.
func AppIDOf(name string) string {
	if strings.HasPrefix(name, "extractor-") {
		return "extractor"
	}
	return name
}

// Ports is the whole stack's port plan, derived from one base so a second
// stack moves everything by setting SA_PORT_BASE.
type Ports struct {
	Base             int
	NATS             int
	SentryGRPC       int
	SentryHealthz    int
	SentryMetrics    int
	PlacementGRPC    int
	PlacementHealthz int
	PlacementMetrics int
	PlacementRaft    int
	SchedulerGRPC    int
	SchedulerHealthz int
	SchedulerMetrics int
	EtcdClient       int
	EtcdPeer         int
	// ControlPlaneAPI and ControlPlaneAdmin are the reference control
	// plane's HTTPS and admin ports (CONTROLPLANE=local).
	ControlPlaneAPI   int
	ControlPlaneAdmin int
	App               map[string]AppPorts
}

// AppPorts are one app's and its sidecar's ports.
type AppPorts struct {
	App, DaprHTTP, DaprGRPC, DaprInternal, DaprMetrics int
}

// PlanPorts lays out every port from base; nothing outside [base, base+150) is used.
func PlanPorts(base int) (Ports, error) {
	if base < 1024 || base > 65535-150 {
		return Ports{}, fmt.Errorf("port base %d out of range: pick a number from 1024 to %d (the stack uses the next 150 ports)", base, 65535-150)
	}
	p := Ports{
		Base: base, NATS: base,
		SentryGRPC: base + 10, SentryHealthz: base + 11, SentryMetrics: base + 12,
		PlacementGRPC: base + 20, PlacementHealthz: base + 21, PlacementMetrics: base + 22, PlacementRaft: base + 23,
		SchedulerGRPC: base + 30, SchedulerHealthz: base + 31, SchedulerMetrics: base + 32,
		EtcdClient: base + 33, EtcdPeer: base + 34,
		ControlPlaneAPI: base + 40, ControlPlaneAdmin: base + 41,
		App: map[string]AppPorts{},
	}
	names := append([]string{}, Apps...)
	for i := 2; i <= MaxExtractorReplicas; i++ {
		names = append(names, ReplicaName(i))
	}
	for i, a := range names {
		o := base + 100 + i*10
		p.App[a] = AppPorts{App: o, DaprHTTP: o + 1, DaprGRPC: o + 2, DaprInternal: o + 3, DaprMetrics: o + 4}
	}
	return p, nil
}

// All lists every port with its owner, for the clash check before start.
func (p Ports) All() map[int]string {
	m := map[int]string{
		p.SentryGRPC: "sentry", p.SentryHealthz: "sentry healthz", p.SentryMetrics: "sentry metrics",
		p.PlacementGRPC: "placement", p.PlacementHealthz: "placement healthz", p.PlacementMetrics: "placement metrics", p.PlacementRaft: "placement raft",
		p.SchedulerGRPC: "scheduler", p.SchedulerHealthz: "scheduler healthz", p.SchedulerMetrics: "scheduler metrics",
		p.EtcdClient: "scheduler etcd client", p.EtcdPeer: "scheduler etcd peer",
		p.ControlPlaneAPI: "reference control plane", p.ControlPlaneAdmin: "reference control plane admin",
	}
	for a, ap := range p.App {
		m[ap.App] = a + " app"
		m[ap.DaprHTTP] = a + " sidecar HTTP"
		m[ap.DaprGRPC] = a + " sidecar gRPC"
		m[ap.DaprInternal] = a + " sidecar internal gRPC"
		m[ap.DaprMetrics] = a + " sidecar metrics"
	}
	return m
}
