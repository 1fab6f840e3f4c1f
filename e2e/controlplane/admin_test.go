package controlplane

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func adminDo(t *testing.T, h *harness, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.AdminURL()+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, data
}

func TestAdminAPI(t *testing.T) {
	h := start(t, func(o *Options) { o.AdminAddr = "127.0.0.1:0" })
	require.True(t, strings.HasPrefix(h.srv.AdminURL(), "http://127.0.0.1:"))
	h.login()

	status, body := adminDo(t, h, http.MethodPost, "/jobs", `{"source":{"kind":"postgres"}}`)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var created struct {
		JobID string `json:"job_id"`
	}
	require.NoError(t, json.Unmarshal(body, &created))
	status, _ = adminDo(t, h, http.MethodPost, "/jobs", `[1,2]`)
	require.Equal(t, http.StatusBadRequest, status)

	status, body = adminDo(t, h, http.MethodPost, "/faults", `{"kind":"rate_limit","count":1,"retry_after":"4s","path_prefix":"/api/agent/v1/work"}`)
	require.Equal(t, http.StatusNoContent, status, "%s", body)
	status, _ = adminDo(t, h, http.MethodPost, "/faults", `{"kind":"slow","delay":"forever"}`)
	require.Equal(t, http.StatusBadRequest, status)
	status, body = adminDo(t, h, http.MethodGet, "/faults", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `[{"kind":"rate_limit","count":1,"retry_after":"4s","path_prefix":"/api/agent/v1/work"}]`, string(body))

	resp, _ := h.poll(0)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "4", resp.Header.Get("Retry-After"))
	resp, l := h.poll(0)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, created.JobID, l.JobID)

	status, body = adminDo(t, h, http.MethodGet, "/counters", "")
	require.Equal(t, http.StatusOK, status)
	var c Counters
	require.NoError(t, json.Unmarshal(body, &c))
	require.Equal(t, 2, c.Requests[APIPrefix+"/work"])
	require.Equal(t, 1, c.Faults[FaultRateLimit])

	status, _ = adminDo(t, h, http.MethodPost, "/leases/"+l.LeaseID+"/expire", "")
	require.Equal(t, http.StatusNoContent, status)
	resp, _ = h.call(http.MethodPost, "/leases/"+l.LeaseID+"/renew", nil, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode)

	status, body = adminDo(t, h, http.MethodGet, "/jobs/"+created.JobID, "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), `"state":"queued"`)
	status, _ = adminDo(t, h, http.MethodGet, "/jobs/job-nope", "")
	require.Equal(t, http.StatusNotFound, status)

	status, _ = adminDo(t, h, http.MethodPost, "/tokens/expire", "")
	require.Equal(t, http.StatusNoContent, status)
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	status, _ = adminDo(t, h, http.MethodPost, "/secret/rotate", `{"secret":"two","revoke_tokens":true}`)
	require.Equal(t, http.StatusNoContent, status)
	r, _ := h.fetchToken(testClientID, testSecret)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	r, _ = h.fetchToken(testClientID, "two")
	require.Equal(t, http.StatusOK, r.StatusCode)

	status, _ = adminDo(t, h, http.MethodDelete, "/faults", "")
	require.Equal(t, http.StatusNoContent, status)
}

func TestAdminMustBeLoopback(t *testing.T) {
	_, err := Start(Options{ClientID: "a", ClientSecret: "b", AdminAddr: "0.0.0.0:0"})
	require.ErrorContains(t, err, "loopback")
	_, err = Start(Options{ClientID: "a"})
	require.ErrorContains(t, err, "client secret")
}
