package app

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/pubsub/pubsubtest"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/probe"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

var watched = []string{"orchestrator", "extractor", "publisher"}

// deliverAck posts an ack CloudEvent to the health app's ack route and
// returns the subscriber's answer.
func deliverAck(t *testing.T, app *fiber.App, data string) string {
	t.Helper()
	return pubsubtest.Deliver(t, app, probe.AckTopic, data)
}

func ackJSON(t *testing.T, probeID, appID string) string {
	t.Helper()
	b, err := json.Marshal(probe.Ack{ProbeID: probeID, AppID: appID, ReceivedAt: time.Now().UTC()})
	require.NoError(t, err)
	return string(b)
}

// loopbackBroker is a Publisher that, on a probe, plays the other apps: it
// posts their acks back into the health app through its pub/sub route.
type loopbackBroker struct {
	t   *testing.T
	app *fiber.App
	// ackers answer each probe (an app may be listed twice to ack twice).
	ackers []string
	// before is delivered ahead of the real acks, e.g. a stale ack.
	before func(probeID string) []string
	err    error

	mu       sync.Mutex
	probes   []probe.Probe
	answers  []string
	topicErr string
}

func (b *loopbackBroker) Publish(_ context.Context, topic string, v any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if topic != probe.Topic {
		b.topicErr = topic
		return errors.New("unexpected topic " + topic)
	}
	p, ok := v.(probe.Probe)
	if !ok {
		return errors.New("payload is not a probe.Probe")
	}
	b.probes = append(b.probes, p)
	if b.err != nil {
		return b.err
	}
	var acks []string
	if b.before != nil {
		acks = append(acks, b.before(p.ID)...)
	}
	for _, a := range b.ackers {
		acks = append(acks, ackJSON(b.t, p.ID, a))
	}
	for _, data := range acks {
		b.answers = append(b.answers, deliverAck(b.t, b.app, data))
	}
	return nil
}

// newHealthApp builds the health app's fiber app with the prober's ack subscription.
func newHealthApp(t *testing.T, prober *BrokerProber) *fiber.App {
	t.Helper()
	app := fiber.New()
	r, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	prober.Register(r)
	return app
}

// setup wires a prober of watched apps to a loopback broker.
func setup(t *testing.T, timeout time.Duration, broker *loopbackBroker) (*BrokerProber, *fiber.App) {
	t.Helper()
	broker.t = t
	prober := NewBrokerProber(watched, broker, timeout, zap.NewNop())
	app := newHealthApp(t, prober)
	broker.app = app
	return prober, app
}

func TestBrokerProbeAllAcked(t *testing.T) {
	broker := &loopbackBroker{ackers: watched}
	prober, _ := setup(t, 5*time.Second, broker)

	rep := prober.Run(context.Background())
	require.True(t, rep.OK, "report: %+v", rep)
	require.Empty(t, rep.Error)
	require.Len(t, rep.ProbeID, 16)
	require.Len(t, broker.probes, 1)
	require.Equal(t, rep.ProbeID, broker.probes[0].ID)
	require.WithinDuration(t, time.Now(), broker.probes[0].SentAt, 5*time.Second)
	require.Len(t, rep.Apps, len(watched))
	for _, a := range watched {
		require.True(t, rep.Apps[a].Acked, a)
		require.GreaterOrEqual(t, rep.Apps[a].RoundTripMs, int64(0))
	}
	require.Equal(t, []string{"SUCCESS", "SUCCESS", "SUCCESS"}, broker.answers)
	require.Empty(t, broker.topicErr)
	require.Empty(t, prober.pending, "a finished probe stops waiting for acks")

	// Each run uses a fresh probe id.
	rep2 := prober.Run(context.Background())
	require.True(t, rep2.OK)
	require.NotEqual(t, rep.ProbeID, rep2.ProbeID)
}

func TestBrokerProbeTimesOutWhenAnAppNeverAcks(t *testing.T) {
	broker := &loopbackBroker{ackers: []string{"orchestrator", "publisher"}}
	prober, _ := setup(t, 300*time.Millisecond, broker)

	start := time.Now()
	rep := prober.Run(context.Background())
	elapsed := time.Since(start)
	require.False(t, rep.OK)
	require.Contains(t, rep.Error, "not every app answered within 300ms")
	require.Equal(t, ProbeResult{}, rep.Apps["extractor"])
	require.True(t, rep.Apps["orchestrator"].Acked)
	require.True(t, rep.Apps["publisher"].Acked)
	require.GreaterOrEqual(t, elapsed, 300*time.Millisecond, "waited for the timeout")
	require.Less(t, elapsed, 5*time.Second)
	require.Empty(t, prober.pending)
}

func TestBrokerProbeCountsEachWatchedAppOnce(t *testing.T) {
	// orchestrator acks twice and an unwatched app acks too; extractor never
	// does, so the probe must not be declared complete.
	broker := &loopbackBroker{ackers: []string{"orchestrator", "orchestrator", "intruder", "publisher"}}
	prober, _ := setup(t, 300*time.Millisecond, broker)
	rep := prober.Run(context.Background())
	require.False(t, rep.OK)
	require.False(t, rep.Apps["extractor"].Acked)
	require.NotContains(t, rep.Apps, "intruder")
	require.Len(t, rep.Apps, len(watched))
}

func TestBrokerProbePublishError(t *testing.T) {
	broker := &loopbackBroker{ackers: watched, err: errkind.New(errkind.Transient, "publish to topic probe: broker unavailable")}
	prober, _ := setup(t, time.Minute, broker)

	start := time.Now()
	rep := prober.Run(context.Background())
	require.Less(t, time.Since(start), 5*time.Second, "a failed publish does not wait for acks")
	require.False(t, rep.OK)
	require.Equal(t, "publish to topic probe: broker unavailable", rep.Error)
	require.NotEmpty(t, rep.ProbeID)
	require.Len(t, rep.Apps, len(watched))
	for _, a := range watched {
		require.False(t, rep.Apps[a].Acked, a)
	}
	require.Empty(t, broker.answers, "nothing was delivered")
	require.Empty(t, prober.pending)
}

func TestBrokerProbeIgnoresAcksForUnknownProbes(t *testing.T) {
	// A stale ack from extractor (an earlier probe) arrives during the run;
	// it must not count for the current probe.
	broker := &loopbackBroker{
		ackers: []string{"orchestrator", "publisher"},
		before: func(string) []string { return []string{ackJSON(t, "0123456789abcdef", "extractor")} },
	}
	prober, app := setup(t, 300*time.Millisecond, broker)

	rep := prober.Run(context.Background())
	require.False(t, rep.OK)
	require.False(t, rep.Apps["extractor"].Acked, "the stale ack was ignored")
	require.Equal(t, []string{"SUCCESS", "SUCCESS", "SUCCESS"}, broker.answers, "stale acks are accepted, not retried")

	// Outside any run, and for the probe that has just finished.
	require.Equal(t, "SUCCESS", deliverAck(t, app, ackJSON(t, "feedfacefeedface", "extractor")))
	require.Equal(t, "SUCCESS", deliverAck(t, app, ackJSON(t, rep.ProbeID, "extractor")))
	require.Empty(t, prober.pending)
}

func TestBrokerProbeDropsUndecodableAcks(t *testing.T) {
	prober := NewBrokerProber(watched, &loopbackBroker{}, time.Second, zap.NewNop())
	app := newHealthApp(t, prober)
	require.Equal(t, "DROP", deliverAck(t, app, `"not an ack"`))
	require.Equal(t, "DROP", deliverAck(t, app, `null`))
}

func TestBrokerProbeStopsWhenContextEnds(t *testing.T) {
	broker := &loopbackBroker{ackers: nil}
	prober, _ := setup(t, time.Minute, broker)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	// Publishing on a cancelled context is the publisher's business (the
	// loopback ignores it); the wait must end with the context.
	rep := prober.Run(ctx)
	require.Less(t, time.Since(start), 5*time.Second)
	require.False(t, rep.OK)
	require.NotEmpty(t, rep.Error)
}
