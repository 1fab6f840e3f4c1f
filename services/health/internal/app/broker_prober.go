package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/probe"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// Publisher sends the probe.
type Publisher interface {
	Publish(ctx context.Context, topic string, v any) error
}

// BrokerProber publishes a probe and waits until every app acked it through
// the broker, proving both directions of pub/sub work.
type BrokerProber struct {
	apps    []string
	pub     Publisher
	timeout time.Duration
	log     *zap.Logger

	mu      sync.Mutex
	pending map[string]chan probe.Ack
	last    *ProbeReport
}

func NewBrokerProber(apps []string, pub Publisher, timeout time.Duration, log *zap.Logger) *BrokerProber {
	if log == nil {
		log = zap.NewNop()
	}
	return &BrokerProber{apps: apps, pub: pub, timeout: timeout, log: log, pending: map[string]chan probe.Ack{}}
}

// Register subscribes to acks.
func (b *BrokerProber) Register(r *pubsub.Router) {
	r.Subscribe(probe.AckTopic, "", func(_ context.Context, ev pubsub.Event) error {
		var ack probe.Ack
		if err := ev.Decode(&ack); err != nil {
			return err
		}
		b.mu.Lock()
		ch, ok := b.pending[ack.ProbeID]
		b.mu.Unlock()
		if !ok {
			// An ack for a probe nobody waits for any more (late, or from
			// before a restart) is done with: acknowledge and forget it.
			return nil
		}
		select {
		case ch <- ack:
		default:
		}
		return nil
	})
}

// ProbeResult is one app's answer.
type ProbeResult struct {
	Acked       bool  `json:"acked"`
	RoundTripMs int64 `json:"round_trip_ms,omitempty"`
}

// ProbeReport is the answer of POST /v1/diag/broker-probe.
type ProbeReport struct {
	ProbeID   string                 `json:"probe_id"`
	OK        bool                   `json:"ok"`
	Error     string                 `json:"error,omitempty"`
	Apps      map[string]ProbeResult `json:"apps"`
	CheckedAt time.Time              `json:"checked_at"` // when the probe was sent
}

// Run publishes one probe and collects acks until all apps answered or the
// prober's timeout passed.
func (b *BrokerProber) Run(ctx context.Context) ProbeReport { return b.run(ctx, b.timeout) }

// Last is the result of the latest finished probe, if any.
func (b *BrokerProber) Last() (ProbeReport, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		return ProbeReport{}, false
	}
	return *b.last, true
}

func (b *BrokerProber) run(ctx context.Context, timeout time.Duration) ProbeReport {
	rep := b.probe(ctx, timeout)
	b.mu.Lock()
	b.last = &rep
	b.mu.Unlock()
	return rep
}

func (b *BrokerProber) probe(ctx context.Context, timeout time.Duration) ProbeReport {
	id := newID()
	ch := make(chan probe.Ack, len(b.apps)*2)
	b.mu.Lock()
	b.pending[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
	}()
	start := time.Now()
	rep := ProbeReport{ProbeID: id, Apps: map[string]ProbeResult{}, CheckedAt: start.UTC()}
	for _, a := range b.apps {
		rep.Apps[a] = ProbeResult{}
	}
	if err := b.pub.Publish(ctx, probe.Topic, probe.Probe{ID: id, SentAt: start.UTC()}); err != nil {
		rep.Error = err.Error()
		return rep
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	waiting := len(b.apps)
	for waiting > 0 {
		select {
		case ack := <-ch:
			if r, ok := rep.Apps[ack.AppID]; ok && !r.Acked {
				rep.Apps[ack.AppID] = ProbeResult{Acked: true, RoundTripMs: time.Since(start).Milliseconds()}
				waiting--
			}
		case <-ctx.Done():
			rep.Error = "not every app answered within " + timeout.String() + "; check the broker and the apps' logs"
			logging.WithTrace(ctx, b.log).Warn("broker probe incomplete", zap.String("probe_id", id), zap.Any("apps", rep.Apps))
			return rep
		}
	}
	rep.OK = true
	return rep
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
