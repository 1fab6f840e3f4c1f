package stack

import (
	"fmt"
	"strconv"
	"strings"
)

// Apps are the agent's services, in start order; stop order is the reverse.
var Apps = []string{"orchestrator", "extractor", "publisher", "health"}

// MaxReplicas bounds each app's replica count (ORCHESTRATOR_REPLICAS,
// EXTRACTOR_REPLICAS, PUBLISHER_REPLICAS, HEALTH_REPLICAS): every second
// replica has an app port slot of its own inside the PortSpan plan. (A
// cluster scales replicas with its deployments, not this launcher.)
const MaxReplicas = 2

// PortSpan is how many ports from SA_PORT_BASE the stack's plan covers.
const PortSpan = 200

// ReplicasVar names the launcher setting of app's replica count, e.g.
// EXTRACTOR_REPLICAS.
func ReplicasVar(app string) string { return strings.ToUpper(app) + "_REPLICAS" }

// InstanceName is the process name of replica i (1-based) of app: replica
// 1 is plain app ("publisher"), replica i is "app-i" ("publisher-2"). Every
// replica has the app id app, and its own sidecar.
func InstanceName(app string, i int) string {
	if i <= 1 {
		return app
	}
	return fmt.Sprintf("%s-%d", app, i)
}

// AppIDOf maps a process-level app name (publisher-2) to its app id
// (publisher). Only "<app>-<number>" of the four Apps is mapped; anything
// else (a sidecar's "extractor-dapr", "sentry") comes back unchanged.
func AppIDOf(name string) string {
	for _, a := range Apps {
		n, ok := strings.CutPrefix(name, a+"-")
		if !ok || n == "" {
			continue
		}
		if _, err := strconv.ParseUint(n, 10, 16); err == nil {
			return a
		}
	}
	return name
}

// appSlots is the order of the app port slots, base+100, base+110, ...: the
// four apps, then the second replicas, extractor-2 first (it had its slot
// before the others had replicas, so no port moved when they got theirs).
var appSlots = []string{
	"orchestrator", "extractor", "publisher", "health",
	"extractor-2", "orchestrator-2", "publisher-2", "health-2",
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

// PlanPorts lays out every port from base, every replica's included;
// nothing outside [base, base+PortSpan) is used.
func PlanPorts(base int) (Ports, error) {
	if base < 1024 || base > 65535-PortSpan {
		return Ports{}, fmt.Errorf("port base %d out of range: pick a number from 1024 to %d (the stack uses the next %d ports)", base, 65535-PortSpan, PortSpan)
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
	for i, a := range appSlots {
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

// Used lists the ports of a stack running only instances (the Dapr and
// reference control planes' and those instances' own) with their owners:
// the slots of replicas it does not run may be another stack's.
func (p Ports) Used(instances []string) map[int]string {
	m := p.All()
	run := map[string]bool{}
	for _, n := range instances {
		run[n] = true
	}
	for a, ap := range p.App {
		if !run[a] {
			for _, port := range []int{ap.App, ap.DaprHTTP, ap.DaprGRPC, ap.DaprInternal, ap.DaprMetrics} {
				delete(m, port)
			}
		}
	}
	return m
}
