package stack

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlanPortsRange(t *testing.T) {
	tests := []struct {
		base    int
		wantErr bool
	}{
		{-1, true},
		{0, true},
		{1023, true},
		{1024, false},
		{17000, false},
		{65535 - 200, false},
		{65535 - 199, true},
		{65535, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.base), func(t *testing.T) {
			p, err := PlanPorts(tt.base)
			if tt.wantErr {
				require.Error(t, err)
				require.Contains(t, err.Error(), strconv.Itoa(tt.base))
				require.Contains(t, err.Error(), "out of range")
				require.Contains(t, err.Error(), "1024 to 65335")
				require.Equal(t, Ports{}, p)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.base, p.Base)
		})
	}
}

// everyPort lists every port of the plan by field name, found by reflection
// so that a field All() forgets is still checked.
func everyPort(p Ports) map[string]int {
	out := map[string]int{}
	v := reflect.ValueOf(p)
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if f.Name == "Base" || f.Type.Kind() != reflect.Int {
			continue
		}
		out[f.Name] = int(v.Field(i).Int())
	}
	for app, ap := range p.App {
		av := reflect.ValueOf(ap)
		for i := 0; i < av.NumField(); i++ {
			out[app+"."+av.Type().Field(i).Name] = int(av.Field(i).Int())
		}
	}
	return out
}

func TestPlanPortsLayout(t *testing.T) {
	for _, base := range []int{1024, 17000, 65535 - 200} {
		t.Run(strconv.Itoa(base), func(t *testing.T) {
			p, err := PlanPorts(base)
			require.NoError(t, err)
			require.Len(t, p.App, len(Apps)*MaxReplicas, "a slot for every replica of every app")
			for _, a := range Apps {
				for i := 1; i <= MaxReplicas; i++ {
					require.Contains(t, p.App, InstanceName(a, i))
				}
			}

			ports := everyPort(p)
			require.Len(t, ports, 15+5*len(p.App), "NATS, 12 Dapr control-plane ports, 2 reference control plane ports, 5 per app or replica")
			owner := map[int]string{}
			for name, port := range ports {
				require.GreaterOrEqual(t, port, base, name)
				require.Less(t, port, base+PortSpan, name)
				require.LessOrEqual(t, port, 65535, name)
				prev, dup := owner[port]
				require.False(t, dup, "port %d used by both %s and %s", port, prev, name)
				owner[port] = name
			}

			all := p.All()
			_, natsInAll := all[p.NATS]
			require.False(t, natsInAll, "NATS is added by the profile that runs it")
			require.Len(t, all, len(ports)-1, "All() lists every port but NATS, each once")
			for name, port := range ports {
				if name != "NATS" {
					require.NotEmpty(t, all[port], "All() misses %s (%d)", name, port)
				}
			}
			for _, a := range Apps {
				ap := p.App[a]
				require.Equal(t, a+" app", all[ap.App])
				require.Equal(t, a+" sidecar HTTP", all[ap.DaprHTTP])
				require.Equal(t, a+" sidecar gRPC", all[ap.DaprGRPC])
			}
		})
	}
}

// No port moved when every app got a second replica: the four apps and
// extractor-2 keep their slots, the other second replicas follow.
func TestPlanPortsAppSlots(t *testing.T) {
	p, err := PlanPorts(17000)
	require.NoError(t, err)
	want := map[string]int{
		"orchestrator": 17100, "extractor": 17110, "publisher": 17120, "health": 17130,
		"extractor-2": 17140, "orchestrator-2": 17150, "publisher-2": 17160, "health-2": 17170,
	}
	require.Len(t, p.App, len(want))
	for name, port := range want {
		require.Equal(t, AppPorts{App: port, DaprHTTP: port + 1, DaprGRPC: port + 2, DaprInternal: port + 3, DaprMetrics: port + 4}, p.App[name], name)
	}
}

// A stack checks only the ports it will use: the slots of replicas it does
// not run may belong to a stack 150 ports above it (the plan was 150 wide).
func TestPortsUsed(t *testing.T) {
	p, err := PlanPorts(17000)
	require.NoError(t, err)
	all := p.All()
	require.Equal(t, all, p.Used(appSlots), "every instance: every port")

	used := p.Used(Apps)
	require.Len(t, used, len(all)-5*len(Apps)*(MaxReplicas-1))
	for port := range used {
		require.Less(t, port, 17150, "one replica each stays under base+150")
	}
	for _, a := range Apps {
		require.Equal(t, a+" app", used[p.App[a].App])
		require.NotContains(t, used, p.App[InstanceName(a, 2)].App)
		require.NotContains(t, used, p.App[InstanceName(a, 2)].DaprMetrics)
	}

	used = p.Used([]string{"orchestrator", "extractor", "extractor-2", "publisher", "health"})
	require.Equal(t, "extractor-2 sidecar HTTP", used[17141])
	require.NotContains(t, used, 17150)
}

func TestInstanceNamesAndAppIDs(t *testing.T) {
	for _, a := range Apps {
		require.Equal(t, a, InstanceName(a, 1))
		require.Equal(t, a, InstanceName(a, 0))
		require.Equal(t, a+"-2", InstanceName(a, 2))
		require.Equal(t, a, AppIDOf(a))
		require.Equal(t, a, AppIDOf(a+"-2"))
		require.Equal(t, a, AppIDOf(a+"-10"))
		require.Equal(t, a+"-dapr", AppIDOf(a+"-dapr"), "a sidecar is not a replica")
		require.Equal(t, a+"-2-dapr", AppIDOf(a+"-2-dapr"))
		require.Equal(t, a+"-", AppIDOf(a+"-"))
		require.Equal(t, a+"--2", AppIDOf(a+"--2"))
		require.Equal(t, a+"-x2", AppIDOf(a+"-x2"))
		require.Equal(t, strings.ToUpper(a)+"_REPLICAS", ReplicasVar(a))
	}
	for _, n := range []string{"sentry", "nats", "placement-2", "scheduler", "controlplane", "extractors-2", "xextractor-2", ""} {
		require.Equal(t, n, AppIDOf(n))
	}
}
