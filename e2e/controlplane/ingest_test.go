package controlplane

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func shaHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileHeaders(name, kind string, rows int) map[string]string {
	return map[string]string{"X-File-Name": name, "X-Asset-Kind": kind, "X-Rows": itoa(rows), "Content-Type": "application/vnd.apache.arrow.stream"}
}

func TestIngestFileAndManifest(t *testing.T) {
	h := start(t, nil)
	h.login()
	jobID, err := h.srv.Enqueue(map[string]any{})
	require.NoError(t, err)
	a, b := []byte("arrow stream A"), []byte("arrow stream B")
	path := func(sum string) string { return "/jobs/" + jobID + "/files/" + sum }

	resp, _ := h.call(http.MethodHead, path(shaHex(a)), nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	tests := []struct {
		name   string
		sum    string
		body   []byte
		hdr    map[string]string
		status int
	}{
		{"new", shaHex(a), a, fileHeaders("p000/table-000.arrows", "table", 3), 201},
		{"repeat", shaHex(a), a, fileHeaders("p000/table-000.arrows", "table", 3), 200},
		{"sha mismatch", shaHex(a), b, fileHeaders("p000/column-000.arrows", "column", 7), 400},
		{"bad sha", "ABC", b, fileHeaders("x", "column", 7), 400},
		{"bad kind", shaHex(b), b, fileHeaders("x", "view", 7), 400},
		{"no rows", shaHex(b), b, map[string]string{"X-File-Name": "x", "X-Asset-Kind": "column"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.call(http.MethodPut, path(tt.sum), tt.body, tt.hdr)
			require.Equal(t, tt.status, resp.StatusCode, "%s", body)
			if tt.status >= 400 {
				errorBody(t, body)
			}
		})
	}
	resp, _ = h.call(http.MethodHead, path(shaHex(a)), nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	manifest := map[string]any{"version": 1, "job_id": jobID, "files": []map[string]any{
		{"name": "p000/table-000.arrows", "sha256": shaHex(a), "kind": "table", "rows": 3},
		{"name": "p000/column-000.arrows", "sha256": shaHex(b), "kind": "column", "rows": 7},
	}}
	resp, body := h.callJSON(http.MethodPut, "/jobs/"+jobID+"/manifest", manifest)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	e := errorBody(t, body)
	require.Contains(t, e.Message, "p000/column-000.arrows")
	require.NotContains(t, e.Message, "p000/table-000.arrows")
	require.Nil(t, h.srv.Manifest(jobID))

	resp, _ = h.call(http.MethodPut, path(shaHex(b)), b, fileHeaders("p000/column-000.arrows", "column", 7))
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, _ = h.callJSON(http.MethodPut, "/jobs/"+jobID+"/manifest", manifest)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var stored map[string]any
	require.NoError(t, json.Unmarshal(h.srv.Manifest(jobID), &stored))
	require.Equal(t, jobID, stored["job_id"])

	files := h.srv.Files(jobID)
	require.Len(t, files, 2)
	require.Equal(t, "p000/column-000.arrows", files[0].Name)
	require.Equal(t, "column", files[0].Kind)
	require.EqualValues(t, 7, files[0].Rows)
	require.Equal(t, b, files[0].Data)
	require.Equal(t, "p000/table-000.arrows", files[1].Name)

	resp, _ = h.call(http.MethodPut, "/jobs/job-unknown/files/"+shaHex(a), a, fileHeaders("x", "table", 1))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestIngestFileTooLarge(t *testing.T) {
	h := start(t, func(o *Options) { o.MaxFileBytes = 8 })
	h.login()
	jobID, err := h.srv.Enqueue(map[string]any{})
	require.NoError(t, err)
	small, big := []byte("12345678"), []byte("123456789")
	resp, _ := h.call(http.MethodPut, "/jobs/"+jobID+"/files/"+shaHex(big), big, fileHeaders("big", "table", 1))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	resp, _ = h.call(http.MethodPut, "/jobs/"+jobID+"/files/"+shaHex(small), small, fileHeaders("small", "table", 1))
	require.Equal(t, http.StatusCreated, resp.StatusCode)
}

func gzipLines(t *testing.T, lines ...LogLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	for _, l := range lines {
		require.NoError(t, enc.Encode(l))
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestLogsIdempotentBySequence(t *testing.T) {
	h := start(t, nil)
	h.login()
	jobID, err := h.srv.Enqueue(map[string]any{})
	require.NoError(t, err)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	send := func(seq int, dropped string, body []byte) int {
		hdr := map[string]string{"X-Batch-Sequence": itoa(seq), "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
		if dropped != "" {
			hdr["X-Dropped-Lines"] = dropped
		}
		resp, _ := h.call(http.MethodPost, "/jobs/"+jobID+"/logs", body, hdr)
		return resp.StatusCode
	}
	b0 := gzipLines(t, LogLine{TS: at, Level: "info", Msg: "one", Service: "extractor"}, LogLine{TS: at, Level: "warn", Msg: "two"})
	b1 := gzipLines(t, LogLine{TS: at, Level: "info", Msg: "three"})
	require.Equal(t, 200, send(0, "", b0))
	require.Equal(t, 200, send(1, "5", b1))
	require.Equal(t, 200, send(0, "", b0), "a repeated batch is accepted")
	require.Equal(t, 200, send(1, "5", b1))
	require.Equal(t, 400, send(2, "", []byte("not gzip")))
	require.Equal(t, 400, send(2, "", gzipLines(t, LogLine{Level: "info"})))
	require.Equal(t, 400, send(-1, "", b1))
	require.Equal(t, 413, send(3, "", bytes.Repeat([]byte{0x1f}, maxLogBatch+1)))

	var msgs []string
	for _, l := range h.srv.Logs(jobID) {
		msgs = append(msgs, l.Msg)
	}
	require.Equal(t, []string{"one", "two", "three"}, msgs)
	require.Equal(t, 5, h.srv.DroppedLines(jobID))
}

func TestManifestDiscardsFilesItDoesNotList(t *testing.T) {
	h := start(t, nil)
	h.login()
	jobID, err := h.srv.Enqueue(map[string]any{})
	require.NoError(t, err)
	old, kept := []byte("from a run whose lease was lost"), []byte("from the run that finished")
	for _, f := range [][]byte{old, kept} {
		resp, body := h.call(http.MethodPut, "/jobs/"+jobID+"/files/"+shaHex(f), f, fileHeaders("p000/table-000.arrows", "table", 1))
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	}
	manifest := map[string]any{"version": 1, "job_id": jobID, "files": []map[string]any{
		{"name": "p000/table-000.arrows", "sha256": shaHex(kept), "kind": "table", "rows": 1},
	}}
	resp, _ := h.callJSON(http.MethodPut, "/jobs/"+jobID+"/manifest", manifest)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	files := h.srv.Files(jobID)
	require.Len(t, files, 1)
	require.Equal(t, kept, files[0].Data)
	require.Equal(t, 1, h.srv.DiscardedFiles(jobID))
}
