package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Recorder records entries durably before the actions they describe take
// effect. An error means nothing was recorded: the caller must not go on
// with the action (fail closed).
type Recorder interface {
	Record(ctx context.Context, entries ...Entry) error
}

// AppendPath is the writer's (health's) route for appends, called by
// service invocation.
const AppendPath = "/v1/audit/entries"

// AppendRequest is the body of POST AppendPath.
type AppendRequest struct {
	Entries []Entry `json:"entries"`
	// RequestID makes a repeated request (the caller's sidecar retrying a
	// call whose answer was lost) store nothing more: 32 hex digits, new
	// for each Record.
	RequestID string `json:"request_id,omitempty"`
}

// AppendResponse answers it: each entry's sequence number.
type AppendResponse struct {
	Seqs []uint64 `json:"seqs"`
}

// ErrUnavailable marks a failure to record: the audit log did not confirm
// it stored the entries.
var ErrUnavailable = errors.New("audit log unavailable")

// unavailable is a failure to record, naming what was not recorded; it
// is ErrUnavailable and a transient error.
type unavailable struct {
	what string
	err  error
}

func (e *unavailable) Error() string {
	return "audit log unavailable: " + e.what + ": " + e.err.Error()
}
func (e *unavailable) Unwrap() []error { return []error{ErrUnavailable, e.err} }

func newUnavailable(what string, err error) error {
	return errkind.Wrap(errkind.Transient, &unavailable{what: what, err: err}, "")
}

type jobKey struct{}

// WithJob names the job the actions under ctx belong to.
func WithJob(ctx context.Context, jobID string) context.Context {
	if jobID == "" {
		return ctx
	}
	return context.WithValue(ctx, jobKey{}, jobID)
}

// JobOf returns the job WithJob named, if any.
func JobOf(ctx context.Context) string {
	id, _ := ctx.Value(jobKey{}).(string)
	return id
}

// Fill sets an entry's job id and trace id from ctx where they are empty.
func Fill(ctx context.Context, e Entry) Entry {
	if e.JobID == "" {
		e.JobID = JobOf(ctx)
	}
	if sc := trace.SpanContextFromContext(ctx); e.TraceID == "" && sc.HasTraceID() {
		e.TraceID = sc.TraceID().String()
	}
	return e
}

// Invoker is the slice of the sidecar client Remote needs.
type Invoker interface {
	InvokeJSON(ctx context.Context, appID, verb, method string, in, out any) error
}

// Remote records through the writer app's API by service invocation.
type Remote struct {
	inv     Invoker
	appID   string
	timeout time.Duration
	log     *zap.Logger
	records *prometheus.CounterVec
}

// NewRemote returns a Recorder that appends through appID (health).
// Registering its metric on reg is the caller's choice (nil: none).
func NewRemote(inv Invoker, appID string, timeout time.Duration, log *zap.Logger, reg prometheus.Registerer) (*Remote, error) {
	r := &Remote{inv: inv, appID: appID, timeout: timeout, log: log, records: metricdef.AuditRecords.CounterVec()}
	if err := registerRecords(reg, r.records); err != nil {
		return nil, err
	}
	return r, nil
}

func registerRecords(reg prometheus.Registerer, c *prometheus.CounterVec) error {
	c.WithLabelValues("ok")
	c.WithLabelValues("failed")
	if reg == nil {
		return nil
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register %s: %w", metricdef.AuditRecords.Name, err)
	}
	return nil
}

// Record implements Recorder.
func (r *Remote) Record(ctx context.Context, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for i := range entries {
		entries[i] = Fill(ctx, entries[i])
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var id [16]byte
	_, _ = rand.Read(id[:])
	req := AppendRequest{Entries: entries, RequestID: hex.EncodeToString(id[:])}
	var err error
	// The writer stores a request id once (AppendOnce), so a request that
	// may have reached it — its replica was killed mid-call, the answer was
	// lost — is sent again, to whichever replica answers, until the
	// timeout: a writer restarting must not fail the action.
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		var resp AppendResponse
		err = r.inv.InvokeJSON(ctx, r.appID, http.MethodPost, AppendPath, req, &resp)
		if err == nil && len(resp.Seqs) != len(entries) {
			err = fmt.Errorf("%s stored %d of %d entries", r.appID, len(resp.Seqs), len(entries))
		}
		if err == nil || !retryable(err) {
			break
		}
		r.log.Info("audit log append failed; sending it again", zap.String("action", entries[0].Action),
			zap.String("writer", r.appID), zap.Duration("in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		r.records.WithLabelValues("failed").Add(float64(len(entries)))
		r.log.Warn("audit log unavailable: the action was not taken", zap.String("action", entries[0].Action),
			zap.String("target", entries[0].Target), zap.String("writer", r.appID), zap.Error(err))
		return newUnavailable(fmt.Sprintf("%s did not record %s %s", r.appID, entries[0].Action, entries[0].Target), err)
	}
	r.records.WithLabelValues("ok").Add(float64(len(entries)))
	return nil
}

// retryable tells a failure worth repeating with the same request id: the
// writer or the way to it failed (transient or unexpected), as opposed to
// an answer that refuses the request itself.
func retryable(err error) bool {
	switch errkind.Of(err) {
	case errkind.Transient, errkind.Internal:
		return true
	default:
		return false
	}
}

// Local records straight into a Log (the writer's own entries).
type Local struct {
	log     *Log
	zl      *zap.Logger
	records *prometheus.CounterVec
	onFail  func(error)
}

// NewLocal returns a Recorder over l; onFail (may be nil) hears every
// failure, so the writer can report itself degraded.
func NewLocal(l *Log, zl *zap.Logger, reg prometheus.Registerer, onFail func(error)) (*Local, error) {
	r := &Local{log: l, zl: zl, records: metricdef.AuditRecords.CounterVec(), onFail: onFail}
	if err := registerRecords(reg, r.records); err != nil {
		return nil, err
	}
	return r, nil
}

// Append stores entries and returns their sequence numbers; a request id
// (AppendRequest.RequestID) already stored answers the numbers stored then.
func (r *Local) Append(ctx context.Context, requestID string, entries ...Entry) ([]uint64, error) {
	for i := range entries {
		entries[i] = Fill(ctx, entries[i])
	}
	seqs, err := r.log.AppendOnce(ctx, requestID, entries...)
	if err != nil {
		r.records.WithLabelValues("failed").Add(float64(len(entries)))
		if r.onFail != nil {
			r.onFail(err)
		}
		return nil, newUnavailable(fmt.Sprintf("%s %s was not stored", entries[0].Action, entries[0].Target), err)
	}
	r.records.WithLabelValues("ok").Add(float64(len(entries)))
	return seqs, nil
}

// Record implements Recorder.
func (r *Local) Record(ctx context.Context, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if _, err := r.Append(ctx, "", entries...); err != nil {
		r.zl.Error("audit log unavailable: the action was not taken", zap.String("action", entries[0].Action),
			zap.String("target", entries[0].Target), zap.Error(err))
		return err
	}
	return nil
}

// Deferred is a Recorder whose target is set later: the writer (health)
// opens its log during wiring, after the secret reads are wired. Until
// then every record fails, closed.
type Deferred struct {
	mu     sync.RWMutex
	target Recorder
}

// Set gives the target.
func (d *Deferred) Set(r Recorder) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.target = r
}

// Record implements Recorder.
func (d *Deferred) Record(ctx context.Context, entries ...Entry) error {
	d.mu.RLock()
	t := d.target
	d.mu.RUnlock()
	if t == nil {
		return newUnavailable("the audit log is not open yet", errors.New("its writer is starting"))
	}
	return t.Record(ctx, entries...)
}

// Off is the Recorder of AUDIT=off: it records nothing and never fails.
type Off struct{}

// Record implements Recorder.
func (Off) Record(context.Context, ...Entry) error { return nil }
