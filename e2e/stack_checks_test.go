package e2e

import (
	"io"
	"net/http"
	"sort"
	"strings"
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
	Tokens() stack.Tokens
}

// devstackEndpoints is a stack another process (devstack) started: its
// tokens are read from its data dir.
type devstackEndpoints struct {
	stack.Layout
	tokens stack.Tokens
}

func (d devstackEndpoints) Tokens() stack.Tokens { return d.tokens }

// sidecarAuth is app's sidecar's API token header; clientAuth the job API's.
func sidecarAuth(s endpoints, app string) map[string]string {
	return map[string]string{"dapr-api-token": s.Tokens().Sidecar[app]}
}

func clientAuth(s endpoints) map[string]string {
	return map[string]string{"Authorization": "Bearer " + s.Tokens().API}
}

// checkStack is the foundation's contract, run against every profile.
func checkStack(t *testing.T, s endpoints, secretValue string) {
	checkTokens(t, s, secretValue)
	t.Run("each sidecar shows its app and its components", func(t *testing.T) {
		for _, app := range stack.Apps {
			var md daprclient.Metadata
			a := doWith(t, http.MethodGet, s.SidecarURL(app)+"/v1.0/metadata", sidecarAuth(s, app))
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
		a := doWith(t, http.MethodPost, s.AppURL("health")+"/v1/diag/broker-probe", clientAuth(s))
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
		a := doWith(t, http.MethodGet, s.AppURL("health")+"/v1/status", clientAuth(s))
		a.JSON(t, &rep)
		require.Equal(t, http.StatusOK, a.Status, "status: %s", a.Body)
		require.True(t, rep.Healthy)
		require.Len(t, rep.Apps, 3)
		for app, st := range rep.Apps {
			require.True(t, st.Ready, "%s: %s", app, st.Error)
		}
		for _, app := range []string{"orchestrator", "extractor", "publisher"} {
			a := doWith(t, http.MethodGet, s.SidecarURL("health")+"/v1.0/invoke/"+app+"/method/readyz", sidecarAuth(s, "health"))
			require.Equal(t, http.StatusOK, a.Status, "health → %s readyz: %s", app, a.Body)
		}
	})

	t.Run("calls the access-control policy does not allow are denied", func(t *testing.T) {
		for _, c := range []struct{ from, to, verb, method string }{
			{"extractor", "orchestrator", http.MethodGet, "readyz"},     // extractor invokes only the audit log
			{"publisher", "extractor", http.MethodPost, "v1/preflight"}, // only orchestrator may preflight
			{"orchestrator", "extractor", http.MethodGet, "readyz"},     // orchestrator: preflight only
			{"health", "extractor", http.MethodPost, "v1/preflight"},    // health: GET probes only
			{"orchestrator", "health", http.MethodGet, "readyz"},        // apps may only append to health's audit log
			{"extractor", "health", http.MethodGet, "v1/audit/export"},  // reading the log is for operators
			{"publisher", "health", http.MethodPost, "v1/audit/export"},
		} {
			a := doWith(t, c.verb, s.SidecarURL(c.from)+"/v1.0/invoke/"+c.to+"/method/"+c.method, sidecarAuth(s, c.from))
			require.Equal(t, http.StatusForbidden, a.Status, "%s → %s %s %s should be denied: %s", c.from, c.to, c.verb, c.method, a.Body)
		}
	})

	t.Run("an app appends only its own actions to the audit log", func(t *testing.T) {
		post := func(app, entryApp string) answer {
			body := `{"entries":[{"action":"secret.read","actor":"` + entryApp + `","app":"` + entryApp +
				`","target":"secrets/forged","outcome":"ok"}]}`
			req, err := http.NewRequest(http.MethodPost, s.SidecarURL(app)+"/v1.0/invoke/health/method/v1/audit/entries", strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range sidecarAuth(s, app) {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return answer{Status: resp.StatusCode, Body: b}
		}
		a := post("extractor", "orchestrator")
		require.Equal(t, http.StatusUnauthorized, a.Status, "the extractor recorded an orchestrator action: %s", a.Body)
		a = post("extractor", "extractor")
		require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	})

	t.Run("secrets: the extractor reads source secrets, others cannot", func(t *testing.T) {
		var got map[string]string
		a := doWith(t, http.MethodGet, s.SidecarURL("extractor")+"/v1.0/secrets/secrets/demo-source-password", sidecarAuth(s, "extractor"))
		require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
		a.JSON(t, &got)
		require.Equal(t, secretValue, got["demo-source-password"])
		for _, c := range []struct{ app, key string }{
			{"health", "demo-source-password"},
			{"orchestrator", "demo-source-password"},
			{"extractor", "controlplane-client-secret"},
		} {
			a := doWith(t, http.MethodGet, s.SidecarURL(c.app)+"/v1.0/secrets/secrets/"+c.key, sidecarAuth(s, c.app))
			require.Equal(t, http.StatusForbidden, a.Status, "%s reading %s: %s", c.app, c.key, a.Body)
			require.NotContains(t, string(a.Body), secretValue)
		}
	})
}

// checkTokens is issue 10's "any local process can read every stored
// secret": every sidecar wants its own API token, every app its sidecar's
// app token, the job API its bearer token — and what flows through the
// sidecars keeps working.
func checkTokens(t *testing.T, s endpoints, secretValue string) {
	tok := s.Tokens()
	t.Run("a sidecar answers its API only with its own token", func(t *testing.T) {
		for _, app := range stack.Apps {
			for _, path := range []string{"/v1.0/secrets/secrets/bulk", "/v1.0/metadata"} {
				for name, hdr := range map[string]map[string]string{
					"no token":                 nil,
					"another sidecar's token":  {"dapr-api-token": tok.Sidecar[otherApp(app)]},
					"its app's app token":      {"dapr-api-token": tok.App[app]},
					"the job API bearer token": {"Authorization": "Bearer " + tok.API},
				} {
					a := doWith(t, http.MethodGet, s.SidecarURL(app)+path, hdr)
					require.Equal(t, http.StatusUnauthorized, a.Status, "%s %s with %s: %s", app, path, name, a.Body)
					require.NotContains(t, string(a.Body), secretValue)
				}
				a := doWith(t, http.MethodGet, s.SidecarURL(app)+path, sidecarAuth(s, app))
				require.Equal(t, http.StatusOK, a.Status, "%s %s with its token: %s", app, path, a.Body)
			}
		}
	})
	t.Run("an app answers only its sidecar, except probes and metrics", func(t *testing.T) {
		for _, app := range stack.Apps {
			for _, path := range []string{"/v1/sidecar", "/dapr/subscribe"} {
				a := do(t, http.MethodGet, s.AppURL(app)+path)
				require.Equal(t, http.StatusUnauthorized, a.Status, "%s %s: %s", app, path, a.Body)
				a = doWith(t, http.MethodGet, s.AppURL(app)+path, map[string]string{"dapr-api-token": tok.App[app]})
				require.Equal(t, http.StatusOK, a.Status, "%s %s with the app token: %s", app, path, a.Body)
			}
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				a := do(t, http.MethodGet, s.AppURL(app)+path)
				require.Equal(t, http.StatusOK, a.Status, "%s %s: %s", app, path, a.Body)
			}
		}
		// Through the sidecar (service invocation) the app token is added.
		a := doWith(t, http.MethodGet, s.SidecarURL("health")+"/v1.0/invoke/extractor/method/v1/sidecar", sidecarAuth(s, "health"))
		require.Equal(t, http.StatusOK, a.Status, "health → extractor /v1/sidecar: %s", a.Body)
	})
	t.Run("the job API wants its bearer token, or the sidecar", func(t *testing.T) {
		a := do(t, http.MethodGet, s.AppURL("orchestrator")+"/v1/jobs")
		require.Equal(t, http.StatusUnauthorized, a.Status, "%s", a.Body)
		var refusal struct {
			Error struct{ Message string } `json:"error"`
		}
		a.JSON(t, &refusal)
		require.Contains(t, refusal.Error.Message, "Authorization: Bearer <token>")
		require.Contains(t, refusal.Error.Message, "DATA_DIR/api-token")
		a = doWith(t, http.MethodGet, s.AppURL("orchestrator")+"/v1/jobs", map[string]string{"Authorization": "Bearer " + tok.App["orchestrator"]})
		require.Equal(t, http.StatusUnauthorized, a.Status, "the app token is not the job API token: %s", a.Body)
		a = doWith(t, http.MethodGet, s.AppURL("orchestrator")+"/v1/jobs", clientAuth(s))
		require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
		// Health reads the job list through its sidecar (heartbeats).
		a = doWith(t, http.MethodGet, s.SidecarURL("health")+"/v1.0/invoke/orchestrator/method/v1/jobs", sidecarAuth(s, "health"))
		require.Equal(t, http.StatusOK, a.Status, "health → orchestrator GET /v1/jobs: %s", a.Body)
		a = do(t, http.MethodGet, s.AppURL("health")+"/v1/status")
		require.Equal(t, http.StatusUnauthorized, a.Status, "health's status is a client route: %s", a.Body)

		// Schedules: the same token; their fires come only from the sidecar.
		a = do(t, http.MethodGet, s.AppURL("orchestrator")+"/v1/schedules")
		require.Equal(t, http.StatusUnauthorized, a.Status, "%s", a.Body)
		a = doWith(t, http.MethodGet, s.AppURL("orchestrator")+"/v1/schedules", clientAuth(s))
		require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
		a = doWith(t, http.MethodPost, s.AppURL("orchestrator")+"/job/schedule-x-g1-1", clientAuth(s))
		require.Equal(t, http.StatusUnauthorized, a.Status, "a client cannot fire a schedule: %s", a.Body)
		a = doWith(t, http.MethodGet, s.SidecarURL("health")+"/v1.0/invoke/orchestrator/method/v1/schedules", sidecarAuth(s, "health"))
		require.Equal(t, http.StatusForbidden, a.Status, "health may not read schedules through its sidecar: %s", a.Body)
	})
}

func otherApp(app string) string {
	if app == "health" {
		return "orchestrator"
	}
	return "health"
}
