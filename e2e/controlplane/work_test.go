package controlplane

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWorkLeaseRenewExpiryRequeue(t *testing.T) {
	h := start(t, nil)
	h.login()

	resp, body := h.call(http.MethodGet, "/work?wait=0", nil, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	errorBody(t, body)

	resp, _ = h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	jobID, err := h.srv.Enqueue(map[string]any{"source": "pg"})
	require.NoError(t, err)
	resp, l := h.poll(1)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, jobID, l.JobID)
	require.Equal(t, 30, l.DurationSeconds)
	require.Equal(t, h.clock.Now().Add(30*time.Second), l.ExpiresAt.UTC())
	require.JSONEq(t, `{"source":"pg"}`, string(l.Spec))

	h.clock.Advance(20 * time.Second)
	resp, body = h.call(http.MethodPost, "/leases/"+l.LeaseID+"/renew", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var renewed Lease
	require.NoError(t, json.Unmarshal(body, &renewed))
	require.Equal(t, h.clock.Now().Add(30*time.Second), renewed.ExpiresAt.UTC())

	// Not renewed in time: the lease is lost and the job queued again.
	h.clock.Advance(30 * time.Second)
	resp, body = h.call(http.MethodPost, "/leases/"+l.LeaseID+"/renew", nil, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Equal(t, "lease_lost", errorBody(t, body).Code)
	resp, body = h.callJSON(http.MethodPost, "/leases/"+l.LeaseID+"/status", StatusReport{State: "running", At: h.clock.Now()})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	errorBody(t, body)

	resp, l2 := h.poll(0)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, jobID, l2.JobID)
	require.NotEqual(t, l.LeaseID, l2.LeaseID)
	j, ok := h.srv.Job(jobID)
	require.True(t, ok)
	require.Equal(t, 2, j.Leases)
	leases := h.srv.Leases()
	require.Len(t, leases, 2)
	require.Equal(t, LeaseExpired, leases[0].State)
	require.Equal(t, LeaseActive, leases[1].State)

	resp, _ = h.call(http.MethodPost, "/leases/nope/renew", nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestLongPollWakesOnEnqueue(t *testing.T) {
	h := start(t, nil)
	h.login()
	done := make(chan Lease, 1)
	go func() {
		resp, l := h.poll(10)
		if resp.StatusCode == http.StatusOK {
			done <- l
		}
		close(done)
	}()
	// The poll reached the server before the job exists; it must answer
	// with the job well before its 10s wait runs out.
	require.Eventually(t, func() bool { return h.srv.Counters().Requests[APIPrefix+"/work"] == 1 }, 5*time.Second, 5*time.Millisecond)
	jobID, err := h.srv.Enqueue(map[string]any{"k": 1})
	require.NoError(t, err)
	select {
	case l, ok := <-done:
		require.True(t, ok, "the poll answered without a lease")
		require.Equal(t, jobID, l.JobID)
	case <-time.After(3 * time.Second):
		t.Fatal("the long poll did not wake on enqueue")
	}
}

func TestReleaseRequeues(t *testing.T) {
	h := start(t, nil)
	h.login()
	jobID, err := h.srv.Enqueue(map[string]any{})
	require.NoError(t, err)
	_, l := h.poll(0)
	resp, _ := h.callJSON(http.MethodPost, "/leases/"+l.LeaseID+"/release", map[string]string{"reason": "stopping"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = h.call(http.MethodPost, "/leases/"+l.LeaseID+"/release", nil, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "a repeated release is a no-op")
	resp, _ = h.call(http.MethodPost, "/leases/"+l.LeaseID+"/renew", nil, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode)

	resp, l2 := h.poll(0)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, jobID, l2.JobID)

	require.NoError(t, h.srv.ExpireLease(l2.LeaseID))
	resp, _ = h.call(http.MethodPost, "/leases/"+l2.LeaseID+"/release", nil, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "an expired lease is lost")
}

func TestStatusTransitions(t *testing.T) {
	h := start(t, nil)
	h.login()
	jobID, err := h.srv.Enqueue(map[string]any{})
	require.NoError(t, err)
	_, l := h.poll(0)
	at := h.clock.Now()
	steps := []struct {
		state  string
		status int
	}{
		{"accepted", 200},
		{"accepted", 200}, // repeat: no-op
		{"running", 200},
		{"accepted", 409}, // backwards
		{"bogus", 400},
		{"succeeded", 200},
		{"succeeded", 200}, // retry of the terminal report
		{"failed", 409},    // terminal to another terminal
	}
	for _, st := range steps {
		resp, body := h.callJSON(http.MethodPost, "/leases/"+l.LeaseID+"/status", StatusReport{State: st.state, At: at})
		require.Equal(t, st.status, resp.StatusCode, "state %s: %s", st.state, body)
	}
	recs := h.srv.Statuses(jobID)
	var states []string
	for _, r := range recs {
		states = append(states, r.Report.State)
		require.Equal(t, l.LeaseID, r.LeaseID)
	}
	require.Equal(t, []string{"accepted", "running", "succeeded"}, states)
	j, _ := h.srv.Job(jobID)
	require.Equal(t, "succeeded", j.State)
	resp, _ := h.call(http.MethodPost, "/leases/"+l.LeaseID+"/renew", nil, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "a finished lease cannot be renewed")
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "a finished job is not queued again")
}

func TestHeartbeat(t *testing.T) {
	h := start(t, nil)
	h.login()
	hb := Heartbeat{AgentID: "a1", Version: "1.2.3", At: h.clock.Now(), Status: "degraded", JobsRunning: 1,
		Apps: map[string]AppHealth{"extractor": {Ready: false, Error: "db down"}}}
	resp, _ := h.callJSON(http.MethodPost, "/heartbeat", hb)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, body := h.callJSON(http.MethodPost, "/heartbeat", Heartbeat{AgentID: "a1", Status: "meh"})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	errorBody(t, body)
	got := h.srv.Heartbeats()
	require.Len(t, got, 1)
	require.Equal(t, "degraded", got[0].Status)
	require.Equal(t, "db down", got[0].Apps["extractor"].Error)
}
