package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeSidecar answers like daprd's HTTP API for what probe-broker uses:
// outbound health, invocation of health's broker probe, and shutdown.
type fakeSidecar struct {
	mu          sync.Mutex
	notReady    int // healthz/outbound answers 500 this many times
	probeFails  int // the probe answers 503 (not ok) this many times
	invoked     []string
	tokens      []string
	shutdowns   atomic.Int32
	unreachable bool // invocation answers 500 like daprd when health is down
}

func (f *fakeSidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, r.Header.Get("dapr-api-token"))
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1.0/healthz/outbound":
		if f.notReady > 0 {
			f.notReady--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/v1.0/shutdown":
		f.shutdowns.Add(1)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/v1.0/invoke/health/method/v1/diag/broker-probe":
		f.invoked = append(f.invoked, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		if f.unreachable {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: health"}`))
			return
		}
		if f.probeFails > 0 {
			f.probeFails--
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"probe_id":"p-1","ok":false,"error":"publisher did not answer","apps":{"extractor":{"acked":true,"round_trip_ms":7},"publisher":{"acked":false}}}`))
			return
		}
		_, _ = w.Write([]byte(`{"probe_id":"p-2","ok":true,"apps":{"extractor":{"acked":true,"round_trip_ms":7},"orchestrator":{"acked":true,"round_trip_ms":5},"publisher":{"acked":true,"round_trip_ms":9}}}`))
	default:
		http.NotFound(w, r)
	}
}

func startFakeSidecar(t *testing.T, f *fakeSidecar) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	return port
}

func TestProbeBrokerViaSidecarWaitsRetriesAndStopsTheSidecar(t *testing.T) {
	f := &fakeSidecar{notReady: 2, probeFails: 1}
	port := startFakeSidecar(t, f)
	r := runCLI(t, map[string]string{"DAPR_HTTP_PORT": port, "DAPR_API_TOKEN": "tok-0123456789abcdef0123456789abcdef"},
		"probe-broker", "--via-sidecar", "--wait", "30s", "--shutdown-sidecar")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "broker round trip ok (probe p-2): extractor 7ms, orchestrator 5ms, publisher 9ms")
	require.Contains(t, r.stderr, "waiting for the Dapr sidecar")
	require.Contains(t, r.stderr, "attempt 1: the broker round trip failed: extractor 7ms, publisher no answer, error: publisher did not answer")
	require.Len(t, f.invoked, 2)
	require.EqualValues(t, 1, f.shutdowns.Load())
	for _, tok := range f.tokens {
		require.Equal(t, "tok-0123456789abcdef0123456789abcdef", tok, "every call to the sidecar carries its API token")
	}
}

func TestProbeBrokerGivesUpAfterWaitAndStillStopsTheSidecar(t *testing.T) {
	f := &fakeSidecar{unreachable: true}
	port := startFakeSidecar(t, f)
	r := runCLI(t, map[string]string{"DAPR_HTTP_PORT": port}, "probe-broker", "--via-sidecar", "--wait", "3s", "--shutdown-sidecar")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stderr, "no successful broker round trip within --wait 3s")
	require.Contains(t, r.stderr, "failed to invoke, id: health")
	require.EqualValues(t, 1, f.shutdowns.Load())
}

func TestProbeBrokerDirectToHealth(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		require.Equal(t, "/v1/diag/broker-probe", r.URL.Path)
		_, _ = w.Write([]byte(`{"probe_id":"p-3","ok":true,"apps":{"extractor":{"acked":true,"round_trip_ms":3}}}`))
	}))
	defer srv.Close()
	r := runCLI(t, map[string]string{healthEnv: srv.URL, tokenEnv: "client-token-0123456789abcdef0123"}, "probe-broker", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.JSONEq(t, `{"probe_id":"p-3","ok":true,"apps":{"extractor":{"acked":true,"round_trip_ms":3}}}`, r.stdout)
	require.Equal(t, "Bearer client-token-0123456789abcdef0123", auth)
}

func TestProbeBrokerFlagProblems(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--shutdown-sidecar"}, nil, "--shutdown-sidecar needs --via-sidecar"},
		{[]string{"--via-sidecar", "--health", "http://x"}, nil, "drop them with --via-sidecar"},
		{[]string{"--via-sidecar"}, map[string]string{"DAPR_HTTP_PORT": "http"}, `DAPR_HTTP_PORT "http" is not a port`},
		{[]string{"--via-sidecar", "--wait", "0s"}, nil, "--wait must be positive"},
		{[]string{"--via-sidecar", "--app-id", "a/b"}, nil, `--app-id "a/b" is not a Dapr app id`},
	} {
		r := runCLI(t, c.env, append([]string{"probe-broker"}, c.args...)...)
		require.Equal(t, ExitUsage, r.code, "%v", c.args)
		require.Contains(t, r.stderr, c.want, "%v", c.args)
	}
}
