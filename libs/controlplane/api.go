package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

const (
	maxPollWait  = 60 * time.Second
	maxLogBatch  = 1 << 20
	opPoll       = "pollWork"
	opRenew      = "renewLease"
	opRelease    = "releaseLease"
	opStatus     = "reportStatus"
	opHeartbeat  = "heartbeat"
	opLogs       = "uploadLogs"
	opHasFile    = "hasFile"
	opIngestFile = "ingestFile"
	opManifest   = "ingestManifest"
	opCheckpoint = "addCheckpoint"
	opToken      = "fetchToken" // the OAuth token endpoint, not the API
)

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// PollWork long-polls up to wait (at most 60s) for a job; nil, nil means none
// arrived in time and the caller polls again.
func (cl *Client) PollWork(ctx context.Context, agentID string, wait time.Duration) (*Lease, error) {
	if agentID == "" {
		return nil, errkind.New(errkind.Invalid, "controlplane pollWork: agent id is required")
	}
	wait = min(max(wait, 0), maxPollWait).Truncate(time.Second)
	q := url.Values{"agent_id": {agentID}, "wait": {strconv.Itoa(int(wait / time.Second))}}
	resp, err := cl.do(ctx, call{op: opPoll, method: http.MethodGet, path: "/work", template: "/work", query: q, extraTime: wait})
	if err != nil {
		return nil, err
	}
	if resp.status == http.StatusNoContent {
		return nil, nil
	}
	return decodeLease(opPoll, resp.body)
}

// RenewLease extends a lease; a Conflict error means the lease is lost and
// the job must stop without reporting a result.
func (cl *Client) RenewLease(ctx context.Context, leaseID string) (*Lease, error) {
	if leaseID == "" {
		return nil, errkind.New(errkind.Invalid, "controlplane renewLease: lease id is required")
	}
	resp, err := cl.do(ctx, call{op: opRenew, method: http.MethodPost, path: "/leases/" + url.PathEscape(leaseID) + "/renew",
		template: "/leases/{lease_id}/renew"})
	if err != nil {
		return nil, err
	}
	return decodeLease(opRenew, resp.body)
}

// ReleaseLease gives a job back so it is queued again.
func (cl *Client) ReleaseLease(ctx context.Context, leaseID, reason string) error {
	if leaseID == "" {
		return errkind.New(errkind.Invalid, "controlplane releaseLease: lease id is required")
	}
	body, err := json.Marshal(releaseBody{Reason: reason})
	if err != nil {
		return errkind.Wrap(errkind.Invalid, err, "controlplane releaseLease: encode body")
	}
	_, err = cl.do(ctx, call{op: opRelease, method: http.MethodPost, path: "/leases/" + url.PathEscape(leaseID) + "/release",
		template: "/leases/{lease_id}/release", body: body, contentType: "application/json"})
	return err
}

// ReportStatus reports a status transition of the leased job; At defaults to now.
func (cl *Client) ReportStatus(ctx context.Context, leaseID string, r StatusReport) error {
	if leaseID == "" || r.State == "" {
		return errkind.New(errkind.Invalid, "controlplane reportStatus: lease id and state are required")
	}
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	body, err := json.Marshal(r)
	if err != nil {
		return errkind.Wrap(errkind.Invalid, err, "controlplane reportStatus: encode body")
	}
	_, err = cl.do(ctx, call{op: opStatus, method: http.MethodPost, path: "/leases/" + url.PathEscape(leaseID) + "/status",
		template: "/leases/{lease_id}/status", body: body, contentType: "application/json"})
	return err
}

// Heartbeat tells the control plane the agent is alive; At defaults to now.
func (cl *Client) Heartbeat(ctx context.Context, hb Heartbeat) error {
	if hb.AgentID == "" || hb.Status == "" {
		return errkind.New(errkind.Invalid, "controlplane heartbeat: agent id and status are required")
	}
	if hb.At.IsZero() {
		hb.At = time.Now().UTC()
	}
	body, err := json.Marshal(hb)
	if err != nil {
		return errkind.Wrap(errkind.Invalid, err, "controlplane heartbeat: encode body")
	}
	_, err = cl.do(ctx, call{op: opHeartbeat, method: http.MethodPost, path: "/heartbeat", template: "/heartbeat", body: body, contentType: "application/json"})
	return err
}

// UploadLogs sends one batch of a job's redacted log lines, gzip-compressed
// NDJSON of LogLine (at most 1 MiB). seq increases per job (it need not
// start at 0 or be contiguous; the server dedupes by it); dropped counts
// lines lost since the previous batch.
func (cl *Client) UploadLogs(ctx context.Context, jobID string, seq, dropped int, ndjsonGzip []byte) error {
	switch {
	case jobID == "":
		return errkind.New(errkind.Invalid, "controlplane uploadLogs: job id is required")
	case seq < 0 || dropped < 0:
		return errkind.New(errkind.Invalid, "controlplane uploadLogs: sequence and dropped count must not be negative")
	case len(ndjsonGzip) == 0 || len(ndjsonGzip) > maxLogBatch:
		return errkind.New(errkind.Invalid, "controlplane uploadLogs: the batch must be 1 byte to 1 MiB compressed; split larger batches")
	}
	h := http.Header{}
	h.Set("X-Batch-Sequence", strconv.Itoa(seq))
	h.Set("X-Dropped-Lines", strconv.Itoa(dropped))
	h.Set("Content-Encoding", "gzip")
	_, err := cl.do(ctx, call{op: opLogs, method: http.MethodPost, path: "/jobs/" + url.PathEscape(jobID) + "/logs",
		template: "/jobs/{job_id}/logs", header: h, body: ndjsonGzip, contentType: "application/x-ndjson", jobID: jobID})
	return err
}

// HasFile reports whether the control plane already stores the job's file
// with this sha256 (lower-case hex).
func (cl *Client) HasFile(ctx context.Context, jobID, sha string) (bool, error) {
	if jobID == "" || !sha256Pattern.MatchString(sha) {
		return false, errkind.New(errkind.Invalid, "controlplane hasFile: job id and a lower-case hex sha256 are required")
	}
	_, err := cl.do(ctx, call{op: opHasFile, method: http.MethodHead, path: filePath(jobID, sha),
		template: fileTemplate, jobID: jobID, absentOK: true})
	switch {
	case err == nil:
		return true, nil
	case errkind.Of(err) == errkind.NotFound:
		return false, nil
	default:
		return false, err
	}
}

// IngestFile uploads one Arrow IPC stream file of the job and returns
// the control plane's receipt for it (its request id when it answers
// none). The body is checked against sha locally first, since the server
// would refuse it anyway.
func (cl *Client) IngestFile(ctx context.Context, jobID, sha, name, kind string, rows int64, body []byte) (string, error) {
	switch {
	case jobID == "" || name == "" || kind == "":
		return "", errkind.New(errkind.Invalid, "controlplane ingestFile: job id, file name and asset kind are required")
	case !sha256Pattern.MatchString(sha):
		return "", errkind.New(errkind.Invalid, "controlplane ingestFile: sha256 must be 64 lower-case hex digits")
	case rows < 0:
		return "", errkind.New(errkind.Invalid, "controlplane ingestFile: rows must not be negative")
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != sha {
		return "", errkind.New(errkind.Invalid, "controlplane ingestFile: the body's sha256 differs from "+sha+"; hash the file again")
	}
	h := http.Header{}
	h.Set("X-File-Name", name)
	h.Set("X-Asset-Kind", kind)
	h.Set("X-Rows", strconv.FormatInt(rows, 10))
	if body == nil {
		body = []byte{}
	}
	resp, err := cl.do(ctx, call{op: opIngestFile, method: http.MethodPut, path: filePath(jobID, sha), template: fileTemplate,
		header: h, body: body, contentType: "application/vnd.apache.arrow.stream", jobID: jobID})
	if err != nil {
		return "", err
	}
	var r struct {
		Receipt string `json:"receipt"`
	}
	if json.Unmarshal(resp.body, &r) == nil && r.Receipt != "" {
		return r.Receipt, nil
	}
	return resp.header.Get("X-Request-Id"), nil
}

// IngestManifest sends the job's manifest.json after every file it lists; a
// Conflict error names a listed file the control plane does not have.
func (cl *Client) IngestManifest(ctx context.Context, jobID string, manifest []byte) error {
	if jobID == "" || len(manifest) == 0 {
		return errkind.New(errkind.Invalid, "controlplane ingestManifest: job id and manifest are required")
	}
	if !json.Valid(manifest) {
		return errkind.New(errkind.Invalid, "controlplane ingestManifest: the manifest is not valid JSON")
	}
	_, err := cl.do(ctx, call{op: opManifest, method: http.MethodPut, path: "/jobs/" + url.PathEscape(jobID) + "/manifest",
		template: "/jobs/{job_id}/manifest", body: manifest, contentType: "application/json", jobID: jobID})
	return err
}

const fileTemplate = "/jobs/{job_id}/files/{sha256}"

func filePath(jobID, sha string) string {
	return "/jobs/" + url.PathEscape(jobID) + "/files/" + sha
}

func decodeLease(op string, body []byte) (*Lease, error) {
	var l Lease
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, errkind.Wrap(errkind.Transient, err, "controlplane "+op+": the control plane answered an unreadable lease")
	}
	if l.LeaseID == "" || l.JobID == "" {
		return nil, errkind.New(errkind.Transient, "controlplane "+op+": the control plane answered a lease without lease_id or job_id")
	}
	return &l, nil
}

// AuditLogKeyHeader carries the audit log's checkpoint verifier key with a
// checkpoint, so a witness that does not know the log yet can pin it.
const AuditLogKeyHeader = "X-Audit-Log-Key"

// AddCheckpoint sends an audit checkpoint to the witness (a C2SP
// tlog-witness add-checkpoint body: old size, consistency proof, signed
// note) and returns its cosignature lines. A refusal is a *StatusError:
// 409 (its KnownSize is what the witness last cosigned: the log was rolled
// back, forked, or the agent's view is behind), 422 (the proof does not
// show the checkpoint extends the last one), 403 (not signed by the key
// the witness pinned for this log).
func (cl *Client) AddCheckpoint(ctx context.Context, body []byte, logKey string) ([]byte, error) {
	resp, err := cl.do(ctx, call{op: opCheckpoint, method: http.MethodPost, path: "/audit/checkpoints",
		template: "/audit/checkpoints", body: body, contentType: "text/x.tlog.add-checkpoint",
		header: http.Header{AuditLogKeyHeader: {logKey}}})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}
