package stack

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolveReplicas(t *testing.T) {
	one := map[string]int{"orchestrator": 1, "extractor": 1, "publisher": 1, "health": 1}
	got, err := resolveReplicas(nil, 0)
	require.NoError(t, err)
	require.Equal(t, one, got, "missing is 1")

	got, err = resolveReplicas(map[string]int{"publisher": 2, "health": 0}, 0)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"orchestrator": 1, "extractor": 1, "publisher": 2, "health": 1}, got)

	got, err = resolveReplicas(nil, 2)
	require.NoError(t, err)
	require.Equal(t, 2, got["extractor"], "ExtractorReplicas, the older name")
	got, err = resolveReplicas(map[string]int{"extractor": 2}, 2)
	require.NoError(t, err)
	require.Equal(t, 2, got["extractor"])

	in := map[string]int{"orchestrator": 2}
	_, err = resolveReplicas(in, 0)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"orchestrator": 2}, in, "the caller's map is not changed")

	for _, tt := range []struct {
		byApp     map[string]int
		extractor int
		want      string
	}{
		{map[string]int{"orchestrator": 3}, 0, "ORCHESTRATOR_REPLICAS is 3: use 1 to 2"},
		{map[string]int{"health": -1}, 0, "HEALTH_REPLICAS is -1: use 1 to 2"},
		{map[string]int{"publisher": 5}, 0, "PUBLISHER_REPLICAS is 5: use 1 to 2"},
		{nil, 3, "EXTRACTOR_REPLICAS is 3: use 1 to 2"},
		{map[string]int{"extractor": 1}, 2, "extractor replicas set twice"},
		{map[string]int{"sentry": 2}, 0, `replicas of unknown app "sentry"`},
		{map[string]int{"extractor-2": 1}, 0, `replicas of unknown app "extractor-2"`},
	} {
		_, err := resolveReplicas(tt.byApp, tt.extractor)
		require.ErrorContains(t, err, tt.want)
	}
}

func TestInstancesStartOrder(t *testing.T) {
	s := &Stack{}
	require.Equal(t, Apps, s.Instances(), "one of each by default")

	s = &Stack{opts: Options{ExtractorReplicas: 2}}
	require.Equal(t, []string{"orchestrator", "extractor", "extractor-2", "publisher", "health"}, s.Instances())

	s = &Stack{opts: Options{Replicas: map[string]int{"orchestrator": 2, "extractor": 2, "publisher": 2, "health": 2}}}
	want := []string{"orchestrator", "orchestrator-2", "extractor", "extractor-2", "publisher", "publisher-2", "health", "health-2"}
	require.Equal(t, want, s.Instances(), "the orchestrator first; each second replica right after its first")

	s = &Stack{opts: Options{Replicas: map[string]int{"publisher": 2, "health": 1}}}
	require.Equal(t, []string{"orchestrator", "extractor", "publisher", "publisher-2", "health"}, s.Instances())

	p, err := PlanPorts(17000)
	require.NoError(t, err)
	for _, inst := range want {
		require.Contains(t, p.App, inst, "every instance has ports")
	}
}

// Every app process knows which replica it is (SA_INSTANCE, its process
// name), has its app id and its own ports and tokens.
func TestAppEnvPerInstance(t *testing.T) {
	p, err := PlanPorts(17000)
	require.NoError(t, err)
	s := &Stack{Layout: Layout{ports: p}, opts: Options{
		DataDir:  t.TempDir(),
		Replicas: map[string]int{"orchestrator": 2, "extractor": 2, "publisher": 2, "health": 2},
		AppEnv:   []string{"SA_INSTANCE=shared", "CONTROLPLANE_URL=https://cp.example"},
	}}
	require.NoError(t, s.prepareTokens())
	for _, inst := range s.Instances() {
		env := envMap(s.appEnv(inst))
		require.Equal(t, inst, env["SA_INSTANCE"], "AppEnv does not override the replica's identity")
		require.Equal(t, AppIDOf(inst), env["APP_ID"], inst)
		require.Equal(t, itoa(p.App[inst].App), env["APP_PORT"], inst)
		require.Equal(t, itoa(p.App[inst].DaprHTTP), env["DAPR_HTTP_PORT"], inst)
		require.Equal(t, itoa(p.App[inst].DaprGRPC), env["DAPR_GRPC_PORT"], inst)
		require.Equal(t, s.SidecarToken(inst), env["DAPR_API_TOKEN"], inst)
		require.Equal(t, "https://cp.example", env["CONTROLPLANE_URL"], inst)
	}
	require.NotContains(t, strings.Join(s.sidecarTokenEnv("publisher-2"), "\n"), "SA_INSTANCE", "sidecars do not get it")
}

// envMap reads an environment as exec does: the last of a name wins.
func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestConsoleWidthFitsEveryInstance(t *testing.T) {
	w := newLineWriter(nil)
	for _, n := range appSlots {
		require.GreaterOrEqual(t, w.width, len(n+"-dapr"), n)
	}
}
