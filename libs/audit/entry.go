// Package audit is the agent's tamper-evident audit log: entries are leaves
// of an RFC 6962 Merkle tree kept by one writer (health), checkpoints are
// C2SP signed notes cosigned by a witness outside the host (the control
// plane), and a verifier checks an exported log without trusting the host
// that wrote it (ADR 0014).
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Actions the agent records. An action names what happened; Target names
// what it happened to (a secret's store/key, a job, a file's object key).
const (
	ActionSecretRead         = "secret.read"
	ActionJobSubmitted       = "job.submitted"
	ActionJobLeased          = "job.leased"
	ActionJobStarted         = "job.started"
	ActionJobFinished        = "job.finished"
	ActionJobCancelled       = "job.cancelled"
	ActionPartitionStatement = "partition.statements"
	ActionPartitionStaged    = "partition.staged"
	ActionManifestSealed     = "manifest.sealed"
	ActionUploadAcknowledged = "upload.acknowledged"
	ActionTokenFetched       = "controlplane.token.fetched"
	ActionTokenRefused       = "controlplane.token.refused"
	ActionTokenRotated       = "controlplane.token.rotated"
	ActionEgressRefused      = "egress.refused"
	ActionProcessStarted     = "process.started"
	ActionAuditPruned        = "audit.pruned"
	ActionScheduleSet        = "schedule.set"
	ActionScheduleDeleted    = "schedule.deleted"
)

// Outcomes of an action.
const (
	OutcomeOK      = "ok"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
	OutcomeMissing = "not_found"
)

// MaxEntryBytes bounds one entry's canonical encoding: entries name
// things, they never carry data.
const MaxEntryBytes = 64 << 10

// Entry is one record of the audit log. Its JSON encoding (Canonical) is
// the leaf the Merkle tree hashes; fields are declared in the order of
// their names so encoding/json writes the keys sorted.
type Entry struct {
	Action  string            `json:"action"`
	Actor   string            `json:"actor"`
	App     string            `json:"app"`
	Details map[string]string `json:"details,omitempty"`
	JobID   string            `json:"job_id,omitempty"`
	Outcome string            `json:"outcome"`
	Seq     uint64            `json:"seq"`
	Target  string            `json:"target"`
	Time    string            `json:"time"`
	TraceID string            `json:"trace_id,omitempty"`
}

var (
	namePattern   = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,62}$`)
	detailPattern = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,62}$`)
	tracePattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// Validate reports what is wrong with an entry as an append would store
// it (Seq and Time are the writer's, so they are not checked here).
func (e Entry) Validate() error {
	var errs []error
	if !namePattern.MatchString(e.Action) {
		errs = append(errs, fmt.Errorf("action %q is not a lower-case dotted name", e.Action))
	}
	if !namePattern.MatchString(e.App) {
		errs = append(errs, fmt.Errorf("app %q is not an app id", e.App))
	}
	if !namePattern.MatchString(e.Outcome) {
		errs = append(errs, fmt.Errorf("outcome %q is not a lower-case name", e.Outcome))
	}
	if e.Actor == "" {
		errs = append(errs, errors.New("actor is empty (who acted: an app, a client, the control plane)"))
	}
	if e.TraceID != "" && !tracePattern.MatchString(e.TraceID) {
		errs = append(errs, fmt.Errorf("trace_id %q is not 32 lower-case hex digits", e.TraceID))
	}
	for k := range e.Details {
		if !detailPattern.MatchString(k) {
			errs = append(errs, fmt.Errorf("detail name %q is not a lower-case name", k))
		}
	}
	for _, s := range []string{e.Actor, e.Target, e.JobID} {
		if !utf8.ValidString(s) {
			errs = append(errs, errors.New("a field is not valid UTF-8"))
			break
		}
	}
	for _, v := range e.Details {
		if !utf8.ValidString(v) {
			errs = append(errs, errors.New("a detail value is not valid UTF-8"))
			break
		}
	}
	return errors.Join(errs...)
}

// Canonical is the entry's one encoding: sorted keys, no insignificant
// space, no HTML escaping, UTC time with nanoseconds.
func (e Entry) Canonical() ([]byte, error) {
	if len(e.Details) == 0 {
		e.Details = nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode audit entry %d: %w", e.Seq, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxEntryBytes {
		return nil, fmt.Errorf("audit entry %d (%s) is %d bytes, over the %d-byte limit: record names and digests, not data",
			e.Seq, e.Action, len(b), MaxEntryBytes)
	}
	return b, nil
}

// FormatTime is the entry time's one form.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// ParseEntry decodes an entry and accepts it only in canonical form, so an
// entry has exactly one byte sequence and therefore one leaf hash.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) > MaxEntryBytes {
		return Entry{}, fmt.Errorf("entry is %d bytes, over the %d-byte limit", len(b), MaxEntryBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("entry is not valid JSON: %w", err)
	}
	if dec.More() {
		return Entry{}, errors.New("entry has data after its JSON object")
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil || FormatTime(mustTime(e.Time)) != e.Time {
		return Entry{}, fmt.Errorf("entry %d: time %q is not UTC RFC 3339 with nanoseconds", e.Seq, e.Time)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	c, err := e.Canonical()
	if err != nil {
		return Entry{}, err
	}
	if !bytes.Equal(c, b) {
		return Entry{}, fmt.Errorf("entry %d is not in canonical form (sorted keys, no spaces, no HTML escapes)", e.Seq)
	}
	return e, nil
}

func mustTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
