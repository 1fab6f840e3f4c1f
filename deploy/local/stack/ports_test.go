package stack

import (
	"reflect"
	"strconv"
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
		{65535 - 150, false},
		{65535 - 149, true},
		{65535, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.base), func(t *testing.T) {
			p, err := PlanPorts(tt.base)
			if tt.wantErr {
				require.Error(t, err)
				require.Contains(t, err.Error(), strconv.Itoa(tt.base))
				require.Contains(t, err.Error(), "out of range")
				require.Contains(t, err.Error(), "1024 to 65385")
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
	for _, base := range []int{1024, 17000, 65535 - 150} {
		t.Run(strconv.Itoa(base), func(t *testing.T) {
			p, err := PlanPorts(base)
			require.NoError(t, err)
			require.Len(t, p.App, len(Apps)+MaxExtractorReplicas-1)

			ports := everyPort(p)
			require.Len(t, ports, 15+5*len(p.App), "NATS, 12 Dapr control-plane ports, 2 reference control plane ports, 5 per app or replica")
			owner := map[int]string{}
			for name, port := range ports {
				require.GreaterOrEqual(t, port, base, name)
				require.Less(t, port, base+150, name)
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
