package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Witness cosigns audit checkpoints (the control plane).
type Witness interface {
	AddCheckpoint(ctx context.Context, body []byte, logKey string) ([]byte, error)
}

// AuditOptions configure the audit writer.
type AuditOptions struct {
	Log *audit.Log
	// VerifierKey is the log's checkpoint verifier key (sent to the
	// witness so it can pin it, and served to verifiers).
	VerifierKey        string
	CheckpointEntries  uint64
	CheckpointInterval time.Duration
	Retention          time.Duration
	// Witness is nil without a control plane: checkpoints are signed and
	// kept, but nobody outside the host cosigns them.
	Witness Witness
	// TSA, if set, adds an RFC 3161 time-stamp token to each checkpoint.
	TSA        *audit.TSA
	App        string
	Logger     *zap.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// MaxAppendEntries bounds one append request.
const MaxAppendEntries = 256

// AuditWriter is health's side of the audit log: it appends the apps'
// entries, signs checkpoints, has the witness cosign them and prunes old
// bodies. Its status says when the log is degraded.
type AuditWriter struct {
	opts  AuditOptions
	local *audit.Local
	kick  chan struct{}

	checkpoints  *prometheus.CounterVec
	cosignatures *prometheus.CounterVec
	lastCosigned prometheus.Gauge
	pruned       prometheus.Counter

	mu       sync.Mutex
	degraded map[string]string // cause → reason
	cosigned time.Time
}

// NewAuditWriter builds the writer and registers its metrics.
func NewAuditWriter(o AuditOptions) (*AuditWriter, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &AuditWriter{opts: o, kick: make(chan struct{}, 1), degraded: map[string]string{},
		checkpoints: metricdef.AuditCheckpoints.CounterVec(), cosignatures: metricdef.AuditCosignatures.CounterVec(),
		lastCosigned: metricdef.AuditLastCosigned.Gauge(), pruned: metricdef.AuditPruned.Counter()}
	local, err := audit.NewLocal(o.Log, o.Logger, o.Registerer, func(err error) { w.setDegraded("store", err) })
	if err != nil {
		return nil, err
	}
	w.local = local
	for _, r := range []string{"ok", "failed"} {
		w.checkpoints.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "refused", "error"} {
		w.cosignatures.WithLabelValues(r)
	}
	cs := []prometheus.Collector{w.checkpoints, w.cosignatures, w.lastCosigned, w.pruned,
		metricdef.AuditLogEntries.GaugeFunc(func() float64 { return float64(o.Log.Head().Size) }),
		metricdef.AuditDegraded.GaugeFunc(func() float64 {
			if w.Status().State == "ok" {
				return 0
			}
			return 1
		}),
	}
	if o.Registerer != nil {
		for _, c := range cs {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register audit metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Recorder records health's own entries.
func (w *AuditWriter) Recorder() audit.Recorder { return w.local }

// Append stores entries from caller (the app id daprd authenticated with
// mTLS): an app may record only its own actions. A requestID already
// stored (a retried call) stores nothing more and answers the first seqs.
func (w *AuditWriter) Append(ctx context.Context, caller, requestID string, entries []audit.Entry) ([]uint64, error) {
	if caller == "" {
		return nil, errkind.New(errkind.Unauthorized, "audit entries are appended through Dapr service invocation "+
			"(no dapr-caller-app-id): call health through your sidecar")
	}
	if len(entries) == 0 || len(entries) > MaxAppendEntries {
		return nil, errkind.New(errkind.Invalid, fmt.Sprintf("an append carries 1 to %d entries, not %d", MaxAppendEntries, len(entries)))
	}
	for i, e := range entries {
		if e.App != caller {
			return nil, errkind.New(errkind.Unauthorized, fmt.Sprintf("entry %d names app %q but %q sent it: an app records only its own actions",
				i+1, e.App, caller))
		}
		if err := e.Validate(); err != nil {
			return nil, errkind.Wrap(errkind.Invalid, err, fmt.Sprintf("entry %d", i+1))
		}
	}
	seqs, err := w.local.Append(ctx, requestID, entries...)
	if err != nil {
		return nil, err
	}
	w.clear("store")
	if h := w.opts.Log.Head(); h.Size-h.LastCheckpoint >= w.opts.CheckpointEntries {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return seqs, nil
}

// Run signs checkpoints every CheckpointInterval (or CheckpointEntries
// entries), has them cosigned, and prunes once a day, until ctx ends.
func (w *AuditWriter) Run(ctx context.Context) {
	tick := time.NewTicker(w.opts.CheckpointInterval)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		w.checkpoint(ctx)
		if w.opts.Now().Sub(lastPrune) >= 24*time.Hour {
			w.prune(ctx)
			lastPrune = w.opts.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.kick:
		}
	}
}

func (w *AuditWriter) checkpoint(ctx context.Context) {
	cp, signed, err := w.opts.Log.Checkpoint(ctx)
	if err != nil {
		w.checkpoints.WithLabelValues("failed").Inc()
		w.setDegraded("sign", err)
		return
	}
	w.clear("sign")
	if signed {
		w.checkpoints.WithLabelValues("ok").Inc()
		w.timestamp(ctx, cp)
	}
	h := w.opts.Log.Head()
	if w.opts.Witness == nil || h.LastCheckpoint == 0 || h.LastCheckpoint == h.LastCosigned {
		return
	}
	w.cosign(ctx, h.LastCheckpoint, h.LastCosigned, true)
}

// timestamp asks the TSA, if any, for a token over a new checkpoint.
func (w *AuditWriter) timestamp(ctx context.Context, cp audit.CheckpointRecord) {
	if w.opts.TSA == nil {
		return
	}
	tok, err := w.opts.TSA.Stamp(ctx, []byte(cp.Note))
	if err == nil {
		err = w.opts.Log.StoreTSA(ctx, cp.Size, tok)
	}
	if err != nil {
		w.setDegraded("tsa", fmt.Errorf("checkpoint %d has no time-stamp token: %w", cp.Size, err))
		return
	}
	w.clear("tsa")
}

// cosign sends checkpoint size to the witness, proving it extends old.
func (w *AuditWriter) cosign(ctx context.Context, size, old uint64, retry bool) {
	cp, err := w.opts.Log.LoadCheckpoint(ctx, size)
	if err != nil {
		w.setDegraded("witness", err)
		return
	}
	proof, err := w.opts.Log.ProveTree(ctx, size, old)
	if err != nil {
		w.setDegraded("witness", err)
		return
	}
	body := audit.AddCheckpointRequest{OldSize: old, Proof: proof, Checkpoint: []byte(cp.Note)}.Marshal()
	cosig, err := w.opts.Witness.AddCheckpoint(ctx, body, w.opts.VerifierKey)
	if err != nil {
		var se *controlplane.StatusError
		if errors.As(err, &se) && se.Status == http.StatusConflict && se.KnownSize != nil && retry {
			known := *se.KnownSize
			if known <= size && known != old {
				// Our record of what the witness cosigned is behind (an
				// answer lost on the way): prove from what it knows.
				w.cosign(ctx, size, known, false)
				return
			}
		}
		result := "error"
		if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
			result = "refused"
			w.opts.Logger.Error("the witness refused an audit checkpoint: the log may have been rolled back or rewritten",
				zap.Uint64("size", size), zap.Uint64("old_size", old), zap.Error(err))
		}
		w.cosignatures.WithLabelValues(result).Inc()
		w.setDegraded("witness", fmt.Errorf("checkpoint %d not cosigned: %w", size, err))
		return
	}
	cp.Note += string(cosig)
	if err := w.opts.Log.StoreCosigned(ctx, cp); err != nil {
		w.cosignatures.WithLabelValues("error").Inc()
		w.setDegraded("store", err)
		return
	}
	w.cosignatures.WithLabelValues("ok").Inc()
	now := w.opts.Now()
	w.lastCosigned.Set(float64(now.Unix()))
	w.mu.Lock()
	w.cosigned = now
	w.mu.Unlock()
	w.clear("witness")
}

func (w *AuditWriter) prune(ctx context.Context) {
	n, err := w.opts.Log.Prune(ctx, w.opts.Now().Add(-w.opts.Retention), w.opts.App)
	if err != nil {
		w.opts.Logger.Warn("pruning the audit log failed; it is retried tomorrow", zap.Error(err))
		return
	}
	if n > 0 {
		w.pruned.Add(float64(n))
		w.opts.Logger.Info("pruned old audit entries (their hashes are kept)", zap.Int("entries", n),
			zap.Duration("retention", w.opts.Retention))
	}
}

func (w *AuditWriter) setDegraded(cause string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, was := w.degraded[cause]; !was {
		w.opts.Logger.Error("audit log degraded", zap.String("cause", cause), zap.Error(err))
	}
	w.degraded[cause] = err.Error()
}

func (w *AuditWriter) clear(cause string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, was := w.degraded[cause]; was {
		w.opts.Logger.Info("audit log recovered", zap.String("cause", cause))
		delete(w.degraded, cause)
	}
}

// AuditStatus is the audit log's part of GET /v1/status and
// GET /v1/audit/status.
type AuditStatus struct {
	State          string   `json:"state"` // ok, degraded
	Origin         string   `json:"origin"`
	Entries        uint64   `json:"entries"`
	LastCheckpoint uint64   `json:"last_checkpoint"`
	LastCosigned   uint64   `json:"last_cosigned"`
	LastCosignedAt string   `json:"last_cosigned_at,omitempty"`
	Witness        bool     `json:"witness"`
	Problems       []string `json:"problems,omitempty"`
}

// Status reports the log's state.
func (w *AuditWriter) Status() AuditStatus {
	h := w.opts.Log.Head()
	s := AuditStatus{State: "ok", Origin: h.Origin, Entries: h.Size, LastCheckpoint: h.LastCheckpoint,
		LastCosigned: h.LastCosigned, Witness: w.opts.Witness != nil}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.cosigned.IsZero() {
		s.LastCosignedAt = w.cosigned.UTC().Format(time.RFC3339)
	}
	for cause, reason := range w.degraded {
		s.Problems = append(s.Problems, cause+": "+reason)
	}
	sort.Strings(s.Problems)
	if len(s.Problems) > 0 {
		s.State = "degraded"
	}
	return s
}

// VerifierKey is the log's checkpoint verifier key.
func (w *AuditWriter) VerifierKey() string { return w.opts.VerifierKey }

// Log is the log itself, for export and proofs.
func (w *AuditWriter) Log() *audit.Log { return w.opts.Log }
