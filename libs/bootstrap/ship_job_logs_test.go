package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/logship"
)

type recordingPublisher struct {
	mu      sync.Mutex
	batches []logship.Batch
}

func (p *recordingPublisher) Publish(_ context.Context, topic string, v any) error {
	if topic != job.TopicJobLogs {
		panic("unexpected topic " + topic)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var b logship.Batch
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	p.mu.Lock()
	p.batches = append(p.batches, b)
	p.mu.Unlock()
	return nil
}

func (p *recordingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.batches)
}

func TestShipJobLogsOffLeavesTheLoggerAlone(t *testing.T) {
	log := zap.NewNop()
	got, ship, err := shipJobLogs(context.Background(), Spec{Name: "extractor"}, Common{}, log, &recordingPublisher{}, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	require.Nil(t, ship)
	require.Same(t, log, got)

	// The service that uploads job logs never ships its own.
	got, ship, err = shipJobLogs(context.Background(), Spec{Name: "health", KeepsJobLogs: true},
		Common{ShipJobLogs: true, JobLogBufferLines: 10, JobLogBufferBytes: 1 << 20}, log, &recordingPublisher{}, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	require.Nil(t, ship)
	require.Same(t, log, got)
}

func TestShipJobLogsOnCapturesTheWireLogger(t *testing.T) {
	var out bytes.Buffer
	log, err := logging.New(logging.Options{Service: "extractor", Level: "warn", Output: zapcore.AddSync(&out)})
	require.NoError(t, err)
	pub := &recordingPublisher{}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := Common{ShipJobLogs: true, JobLogBufferLines: 100, JobLogBufferBytes: 1 << 20}
	wireLog, ship, err := shipJobLogs(ctx, Spec{Name: "extractor"}, c, log, pub, reg, nil)
	require.NoError(t, err)
	require.NotNil(t, ship)

	jl := wireLog.With(zap.String("job_id", "job-1"))
	jl.Warn("partition failed", zap.String("password", "hunter2-canary"))
	jl.Info("below the service's level")
	wireLog.Warn("not a job line")
	// Run publishes within its interval.
	require.Eventually(t, func() bool { return pub.count() == 1 }, 5*time.Second, 10*time.Millisecond)
	cancel()

	jl.Error("after the wiring context ended")
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	require.NoError(t, ship.Flush(fctx))

	pub.mu.Lock()
	defer pub.mu.Unlock()
	require.Len(t, pub.batches, 2)
	b := pub.batches[0]
	require.Equal(t, "extractor", b.Service)
	require.Equal(t, "job-1", b.JobID)
	require.Len(t, b.Lines, 1)
	require.Equal(t, "partition failed", b.Lines[0].Msg)
	require.Equal(t, logging.Redacted, b.Lines[0].Fields["password"])
	require.Equal(t, "after the wiring context ended", pub.batches[1].Lines[0].Msg)
	require.NotContains(t, out.String(), "hunter2-canary")
	require.Contains(t, out.String(), "not a job line", "the service's own output still gets every line")

	n, err := testutil.GatherAndCount(reg, "secure_agent_job_log_lines_dropped_total")
	require.NoError(t, err)
	require.Equal(t, 2, n, "the drop counter is registered on the service's registry, one series per reason")
}
