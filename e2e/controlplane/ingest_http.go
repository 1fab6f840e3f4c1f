package controlplane

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxLogBatch is the doc's bound on a compressed log batch.
const maxLogBatch = 1 << 20

var (
	shaPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	assetKinds = map[string]bool{
		"database": true, "schema": true, "table": true, "column": true, "constraint": true,
		"index": true, "routine": true, "lineage": true, "table_stats": true, "tombstone": true,
	}
)

// knownJob answers 404 for a job the control plane never queued.
func (s *Server) knownJob(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("job_id")
	if !s.work.hasJob(id) {
		writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("unknown job %q", id))
		return "", false
	}
	return id, true
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var hb Heartbeat
	if err := decodeJSON(r, &hb); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the body must be a Heartbeat: "+err.Error())
		return
	}
	var missing []string
	for _, f := range []struct {
		name  string
		empty bool
	}{{"agent_id", hb.AgentID == ""}, {"version", hb.Version == ""}, {"at", hb.At.IsZero()}} {
		if f.empty {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "set "+strings.Join(missing, ", "))
		return
	}
	switch hb.Status {
	case "ok", "degraded", "down":
	default:
		writeError(w, r, http.StatusBadRequest, "invalid_request", fmt.Sprintf("status %q must be ok, degraded or down", hb.Status))
		return
	}
	s.store.mu.Lock()
	s.store.heartbeats = append(s.store.heartbeats, hb)
	s.store.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	jobID, ok := s.knownJob(w, r)
	if !ok {
		return
	}
	seq, err := strconv.Atoi(r.Header.Get("X-Batch-Sequence"))
	if err != nil || seq < 0 {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "set X-Batch-Sequence to the batch number, from 0")
		return
	}
	dropped := 0
	if v := r.Header.Get("X-Dropped-Lines"); v != "" {
		if dropped, err = strconv.Atoi(v); err != nil || dropped < 0 {
			writeError(w, r, http.StatusBadRequest, "invalid_request", "X-Dropped-Lines must be a whole number, 0 or more")
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLogBatch+1))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "read the log batch: "+err.Error())
		return
	}
	if len(body) > maxLogBatch {
		writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "a log batch is at most 1 MiB compressed; send smaller batches")
		return
	}
	lines, err := parseLogBatch(body)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.store.mu.Lock()
	d := s.store.jobLocked(jobID)
	if _, seen := d.logs[seq]; !seen {
		d.logs[seq] = LogBatch{Sequence: seq, DroppedLines: dropped, Lines: lines}
	}
	s.store.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func parseLogBatch(body []byte) ([]LogLine, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("the log batch must be gzip-compressed NDJSON: %w", err)
	}
	// Bound the decompressed size too: a gzip bomb is a failure mode to survive.
	data, err := io.ReadAll(io.LimitReader(zr, 64*maxLogBatch+1))
	if err != nil {
		return nil, fmt.Errorf("the log batch is not valid gzip: %w", err)
	}
	if len(data) > 64*maxLogBatch {
		return nil, errors.New("the log batch decompresses to more than 64 MiB")
	}
	var lines []LogLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	for n := 1; sc.Scan(); n++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var l LogLine
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("log line %d is not a JSON LogLine: %w", n, err)
		}
		if l.TS.IsZero() || l.Level == "" || l.Msg == "" {
			return nil, fmt.Errorf("log line %d needs ts, level and msg", n)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read log lines: %w", err)
	}
	return lines, nil
}

func (s *Server) handleHasFile(w http.ResponseWriter, r *http.Request) {
	jobID, ok := s.knownJob(w, r)
	if !ok {
		return
	}
	s.store.mu.Lock()
	_, stored := s.store.jobLocked(jobID).files[r.PathValue("sha256")]
	s.store.mu.Unlock()
	if !stored {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleIngestFile(w http.ResponseWriter, r *http.Request) {
	jobID, ok := s.knownJob(w, r)
	if !ok {
		return
	}
	want := r.PathValue("sha256")
	if !shaPattern.MatchString(want) {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the path's sha256 must be 64 lower-case hex digits")
		return
	}
	name, kind := r.Header.Get("X-File-Name"), r.Header.Get("X-Asset-Kind")
	rows, err := strconv.ParseInt(r.Header.Get("X-Rows"), 10, 64)
	switch {
	case name == "":
		writeError(w, r, http.StatusBadRequest, "invalid_request", "set X-File-Name to the file's name in the manifest")
		return
	case !assetKinds[kind]:
		writeError(w, r, http.StatusBadRequest, "invalid_request", fmt.Sprintf("X-Asset-Kind %q is not an asset kind", kind))
		return
	case err != nil || rows < 0:
		writeError(w, r, http.StatusBadRequest, "invalid_request", "set X-Rows to the file's row count, 0 or more")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxFileBytes+1))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "read the file: "+err.Error())
		return
	}
	if int64(len(data)) > s.opts.MaxFileBytes {
		writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a file is at most %d bytes", s.opts.MaxFileBytes))
		return
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		writeError(w, r, http.StatusBadRequest, "sha256_mismatch", fmt.Sprintf("the body's sha256 is %s, not %s; the file changed or was cut short, upload it again", got, want))
		return
	}
	s.store.mu.Lock()
	d := s.store.jobLocked(jobID)
	f, stored := d.files[want]
	if !stored {
		f = &StoredFile{SHA256: want, Name: name, Kind: kind, Rows: rows, Bytes: int64(len(data)), Data: data, At: time.Now(),
			Receipt: "rcpt-" + randomHex(12)}
		d.files[want] = f
	}
	receipt := f.Receipt
	s.store.mu.Unlock()
	status := http.StatusCreated
	if stored {
		status = http.StatusOK // the same receipt: a repeated upload changes nothing
	}
	writeJSON(w, status, IngestReceipt{Receipt: receipt})
}

// manifestFiles is the part of libs/model.Manifest the server checks.
type manifestFiles struct {
	Files []struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	} `json:"files"`
}

func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request) {
	jobID, ok := s.knownJob(w, r)
	if !ok {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody*16))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "read the manifest: "+err.Error())
		return
	}
	var obj map[string]json.RawMessage
	var m manifestFiles
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the manifest must be a JSON object")
		return
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "the manifest's files must be a list of {name, sha256}: "+err.Error())
		return
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	d := s.store.jobLocked(jobID)
	var missing []string
	for _, f := range m.Files {
		if _, ok := d.files[f.SHA256]; !ok {
			missing = append(missing, fmt.Sprintf("%s (sha256 %s)", f.Name, f.SHA256))
		}
	}
	if len(missing) > 0 {
		writeError(w, r, http.StatusConflict, "files_missing", "upload these files before the manifest: "+strings.Join(missing, ", "))
		return
	}
	// A change set is applied to the connection's catalog before the
	// manifest is taken: a run out of order is refused whole.
	if err := s.catalog.apply(jobID, raw, d.files); err != nil {
		var ae *applyError
		if errors.As(err, &ae) {
			writeError(w, r, ae.status, ae.code, ae.message)
			return
		}
		writeError(w, r, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	// The manifest is the job's final file list: files it does not list were
	// left by a run whose lease was lost, and are discarded.
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.SHA256] = true
	}
	for sha := range d.files {
		if !listed[sha] {
			delete(d.files, sha)
			d.discarded++
		}
	}
	d.manifest = raw
	w.WriteHeader(http.StatusOK)
}

// IngestReceipt answers an ingested file.
type IngestReceipt struct {
	Receipt string `json:"receipt"`
}
