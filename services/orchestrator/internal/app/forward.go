package app

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// Forwarder turns pipeline events into "job-event"s of the jobs' workflows.
// Its errors carry the kind the subscriber answers with: an unknown job is
// NotFound (dropped to the dead-letter topic), an engine failure Transient
// (redelivered); an event for a finished job is acknowledged and ignored.
type Forwarder struct {
	runs    RunNotifier
	metrics *Metrics
	log     *zap.Logger
}

func NewForwarder(runs RunNotifier, metrics *Metrics, log *zap.Logger) *Forwarder {
	if log == nil {
		log = zap.NewNop()
	}
	return &Forwarder{runs: runs, metrics: metrics, log: log}
}

// PartitionDone forwards an extractor's end-of-run event.
func (f *Forwarder) PartitionDone(ctx context.Context, pd job.PartitionDone) error {
	if err := checkEvent(pd.JobID, pd.Partition); err != nil {
		return err
	}
	ev, err := PartitionDoneEvent(pd)
	if err != nil {
		return errkind.Wrap(errkind.Invalid, err, "")
	}
	return f.forward(ctx, pd.JobID, ev, zap.String("partition", pd.Partition), zap.Int("attempt", pd.Attempt),
		zap.Bool("ok", pd.OK))
}

// PublishDone forwards the publisher's answer for a partition.
func (f *Forwarder) PublishDone(ctx context.Context, pd job.PublishDone) error {
	if err := checkEvent(pd.JobID, pd.Partition); err != nil {
		return err
	}
	ev, err := PublishDoneEvent(pd)
	if err != nil {
		return errkind.Wrap(errkind.Invalid, err, "")
	}
	return f.forward(ctx, pd.JobID, ev, zap.String("partition", pd.Partition), zap.Bool("ok", pd.OK))
}

func checkEvent(jobID, partition string) error {
	var missing []string
	if jobID == "" {
		missing = append(missing, "job_id")
	}
	if partition == "" {
		missing = append(missing, "partition")
	}
	if len(missing) > 0 {
		return errkind.New(errkind.Invalid, "event has no "+strings.Join(missing, " and "))
	}
	return nil
}

func (f *Forwarder) forward(ctx context.Context, jobID string, ev Event, fields ...zap.Field) error {
	log := logging.WithTrace(ctx, f.log).With(append(fields, zap.String("job_id", jobID), zap.String("type", string(ev.Type)))...)
	run, err := f.runs.Inspect(ctx, jobID)
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, "read the workflow of job "+jobID)
	}
	if !run.Found {
		return errkind.New(errkind.NotFound, "job "+jobID+" is unknown to this orchestrator")
	}
	if run.Finished() {
		log.Debug("event for a finished job ignored")
		return nil
	}
	if err := f.runs.Notify(ctx, jobID, ev); err != nil {
		return errkind.Wrap(errkind.Transient, err, "raise the event into the workflow of job "+jobID)
	}
	f.metrics.eventRaised(ev.Type)
	log.Debug("event raised")
	return nil
}
