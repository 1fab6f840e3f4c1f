package e2e

import (
	"net/http"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/daprclient"
)

// endpoints is what the checks need of a running stack, however started.
type endpoints interface {
	SidecarURL(app string) string
	AppURL(app string) string
	ComponentsFor(app string) []stack.Component
}

// checkStack is the foundation's contract, run against every profile.
func checkStack(t *testing.T, s endpoints, secretValue string) {
	t.Run("each sidecar shows its app and its components", func(t *testing.T) {
		for _, app := range stack.Apps {
			var md daprclient.Metadata
			a := do(t, http.MethodGet, s.SidecarURL(app)+"/v1.0/metadata")
			require.Equal(t, http.StatusOK, a.Status)
			a.JSON(t, &md)
			require.Equal(t, app, md.ID)
			require.NotNil(t, md.AppConnection, "%s: sidecar does not see its app", app)
			var got, want []string
			for _, c := range md.Components {
				got = append(got, c.Name+"="+c.Type)
			}
			for _, c := range s.ComponentsFor(app) {
				want = append(want, c.Name+"="+c.Type)
			}
			sort.Strings(got)
			sort.Strings(want)
			require.Equal(t, want, got, "%s: loaded components", app)
			topics := map[string]bool{}
			for _, sub := range md.Subscriptions {
				topics[sub.Topic] = true
			}
			if app == "health" {
				require.True(t, topics["probe-ack"], "health subscribes to probe-ack: %v", topics)
			} else {
				require.True(t, topics["probe"], "%s subscribes to probe: %v", app, topics)
			}
		}
		// Scopes hold: only the extractor and publisher load staging.
		names := func(app string) map[string]bool {
			m := map[string]bool{}
			for _, c := range s.ComponentsFor(app) {
				m[c.Name] = true
			}
			return m
		}
		require.True(t, names("extractor")["staging"])
		require.False(t, names("health")["staging"])
		require.True(t, names("orchestrator")["statestore"])
	})

	t.Run("a message published through health's sidecar reaches every other app and back", func(t *testing.T) {
		var rep struct {
			OK   bool `json:"ok"`
			Apps map[string]struct {
				Acked bool `json:"acked"`
			} `json:"apps"`
			Error string `json:"error"`
		}
		a := do(t, http.MethodPost, s.AppURL("health")+"/v1/diag/broker-probe")
		a.JSON(t, &rep)
		require.Equal(t, http.StatusOK, a.Status, "probe: %s", a.Body)
		require.True(t, rep.OK)
		for _, app := range []string{"orchestrator", "extractor", "publisher"} {
			require.True(t, rep.Apps[app].Acked, "%s did not answer the probe: %s", app, a.Body)
		}
	})

	t.Run("health invokes every service through Dapr", func(t *testing.T) {
		var rep struct {
			Healthy bool `json:"healthy"`
			Apps    map[string]struct {
				Ready bool   `json:"ready"`
				Error string `json:"error"`
			} `json:"apps"`
		}
		a := do(t, http.MethodGet, s.AppURL("health")+"/v1/status")
		a.JSON(t, &rep)
		require.Equal(t, http.StatusOK, a.Status, "status: %s", a.Body)
		require.True(t, rep.Healthy)
		require.Len(t, rep.Apps, 3)
		for app, st := range rep.Apps {
			require.True(t, st.Ready, "%s: %s", app, st.Error)
		}
		for _, app := range []string{"orchestrator", "extractor", "publisher"} {
			a := do(t, http.MethodGet, s.SidecarURL("health")+"/v1.0/invoke/"+app+"/method/readyz")
			require.Equal(t, http.StatusOK, a.Status, "health → %s readyz: %s", app, a.Body)
		}
	})

	t.Run("calls the access-control policy does not allow are denied", func(t *testing.T) {
		for _, c := range []struct{ from, to, verb, method string }{
			{"extractor", "orchestrator", http.MethodGet, "readyz"},     // extractor may invoke nobody
			{"publisher", "extractor", http.MethodPost, "v1/preflight"}, // only orchestrator may preflight
			{"orchestrator", "extractor", http.MethodGet, "readyz"},     // orchestrator: preflight only
			{"health", "extractor", http.MethodPost, "v1/preflight"},    // health: GET probes only
			{"orchestrator", "health", http.MethodGet, "readyz"},        // nobody invokes health
		} {
			a := do(t, c.verb, s.SidecarURL(c.from)+"/v1.0/invoke/"+c.to+"/method/"+c.method)
			require.Equal(t, http.StatusForbidden, a.Status, "%s → %s %s %s should be denied: %s", c.from, c.to, c.verb, c.method, a.Body)
		}
	})

	t.Run("secrets: the extractor reads source secrets, others cannot", func(t *testing.T) {
		var got map[string]string
		a := do(t, http.MethodGet, s.SidecarURL("extractor")+"/v1.0/secrets/secrets/demo-source-password")
		require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
		a.JSON(t, &got)
		require.Equal(t, secretValue, got["demo-source-password"])
		for _, c := range []struct{ app, key string }{
			{"health", "demo-source-password"},
			{"orchestrator", "demo-source-password"},
			{"extractor", "controlplane-client-secret"},
		} {
			a := do(t, http.MethodGet, s.SidecarURL(c.app)+"/v1.0/secrets/secrets/"+c.key)
			require.Equal(t, http.StatusForbidden, a.Status, "%s reading %s: %s", c.app, c.key, a.Body)
			require.NotContains(t, string(a.Body), secretValue)
		}
	})
}
