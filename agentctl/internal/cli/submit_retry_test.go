package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A submission whose answer is lost (the orchestrator dropped the
// connection, as when it is killed mid-request) is sent again with the same
// idempotency key, so the orchestrator can answer the job it created.
func TestSubmitIsRetriedWithTheSameKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		switch n {
		case 1: // killed mid-request: no answer at all
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			_ = conn.Close()
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"kind":"transient","message":"the workflow engine did not answer"}}`))
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"j-1","state":"pending"}`))
		}
	}))
	defer srv.Close()
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: srv.URL, tokenEnv: "t0ken-for-the-test"}}, "run", specFile(t, "ok"))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "j-1\n", r.stdout)
	require.Len(t, keys, 3)
	require.NotEmpty(t, keys[0])
	require.Equal(t, keys[0], keys[1])
	require.Equal(t, keys[0], keys[2], "every attempt carries the same key")

	// Another run is another job: another key.
	r = runJob(t, jobRun{env: map[string]string{orchestratorEnv: srv.URL, tokenEnv: "t0ken-for-the-test"}}, "run", specFile(t, "ok"))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NotEqual(t, keys[0], keys[3])
}

// Nothing listening for longer than a restart takes is a stack that is not
// running: agentctl says so instead of retrying for long.
func TestSubmitToNothingFailsSoon(t *testing.T) {
	start := time.Now()
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: closedURL(t), tokenEnv: "t0ken-for-the-test"}}, "run", specFile(t, "ok"))
	require.Equal(t, ExitUnreachable, r.code, r.stderr)
	require.Contains(t, r.stderr, "start the stack")
	require.Less(t, time.Since(start), refusedRetryFor+10*time.Second)
}

// An orchestrator that is restarting (refusing connections for a moment)
// gets the submission once it listens again.
func TestSubmitWaitsForARestartingOrchestrator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // down for now
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"j-1","state":"pending"}`))
	})}
	go func() {
		time.Sleep(1500 * time.Millisecond) // the restart
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			_ = srv.Serve(ln)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: "http://" + addr, tokenEnv: "t0ken-for-the-test"}}, "run", specFile(t, "ok"))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "j-1\n", r.stdout)
}
