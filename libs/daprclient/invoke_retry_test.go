package daprclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// daprdAppDown is what daprd 1.16 answered when the callee replica's app
// was restarting (captured from the replica kill test).
const daprdAppDown = `{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: health, err: rpc error: code = Internal desc = error invoking app channel: Post \"http://127.0.0.1:34130/v1/audit/entries\": dial tcp 127.0.0.1:34130: connect: connection refused"}`

func fakeSidecar(t *testing.T, answer func(n int32, w http.ResponseWriter, body string)) (*Sidecar, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.0/healthz/outbound":
			w.WriteHeader(http.StatusNoContent)
		case "/v1.0/metadata":
			_, _ = w.Write([]byte(`{"id":"extractor"}`))
		default:
			b, _ := io.ReadAll(r.Body)
			answer(calls.Add(1), w, string(b))
		}
	}))
	t.Cleanup(srv.Close)
	s, err := Connect(context.Background(), Options{AppID: "extractor", HTTPPort: portOf(t, srv), GRPCPort: freePort(t), WaitTimeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, &calls
}

// A call the callee's app never received (a replica restarting) is sent
// again, with its body, until an instance answers.
func TestInvokeRepeatsACallThatNeverReachedTheApp(t *testing.T) {
	s, calls := fakeSidecar(t, func(n int32, w http.ResponseWriter, body string) {
		require.JSONEq(t, `{"entries":1}`, body, "every attempt carries the body")
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(daprdAppDown))
			return
		}
		_, _ = w.Write([]byte(`{"seqs":[7]}`))
	})
	var out struct{ Seqs []int }
	require.NoError(t, s.InvokeJSON(context.Background(), "health", http.MethodPost, "v1/audit/entries", map[string]int{"entries": 1}, &out))
	require.Equal(t, []int{7}, out.Seqs)
	require.EqualValues(t, 3, calls.Load())
}

// A failure the app may have caused (it answered) is not repeated: the
// call may have taken effect.
func TestInvokeDoesNotRepeatWhatTheAppAnswered(t *testing.T) {
	s, calls := fakeSidecar(t, func(_ int32, w http.ResponseWriter, _ string) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"message":"the audit log could not store the entry"}}`))
	})
	err := s.InvokeJSON(context.Background(), "health", http.MethodPost, "v1/audit/entries", map[string]int{"entries": 1}, nil)
	require.ErrorContains(t, err, "could not store")
	require.EqualValues(t, 1, calls.Load())
}

// The repetition ends with the caller's context.
func TestInvokeRepeatsOnlyWithinTheContext(t *testing.T) {
	s, calls := fakeSidecar(t, func(_ int32, w http.ResponseWriter, _ string) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(daprdAppDown))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := s.InvokeJSON(ctx, "health", http.MethodPost, "v1/audit/entries", nil, nil)
	require.ErrorContains(t, err, "connection refused")
	require.Greater(t, calls.Load(), int32(1))
	require.Less(t, calls.Load(), int32(10))
}
