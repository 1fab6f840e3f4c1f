package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// JobsClient is the slice of the Dapr client the scheduler adapter uses
// (the Jobs API, alpha1 in Dapr 1.16).
type JobsClient interface {
	ScheduleJobAlpha1(ctx context.Context, job *dapr.Job) error
	GetJobAlpha1(ctx context.Context, name string) (*dapr.Job, error)
	DeleteJobAlpha1(ctx context.Context, name string) error
}

// Retries of a fire the orchestrator answered with an error: every 10s for
// 10 minutes; after that the reconciler arms it again.
const (
	fireRetryInterval = 10 * time.Second
	fireRetries       = 60
)

// DaprScheduler arms one-shot jobs on Dapr's scheduler through the
// sidecar's Jobs API; the sidecar delivers each to POST /job/{name}.
type DaprScheduler struct {
	client  JobsClient
	timeout time.Duration
}

func NewDaprScheduler(client JobsClient, timeout time.Duration) *DaprScheduler {
	return &DaprScheduler{client: client, timeout: timeout}
}

// triggerType marks the data as raw JSON: the sidecar's HTTP channel sends
// the value as the body of POST /job/{name}.
const triggerType = "secure-agent/schedule-trigger"

// Arm creates or replaces the job name, due once at at.
func (s *DaprScheduler) Arm(ctx context.Context, name string, at time.Time, t app.Trigger) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode the trigger of %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	due := at.UTC().Format(time.RFC3339)
	retries, interval := uint32(fireRetries), fireRetryInterval
	err = s.client.ScheduleJobAlpha1(ctx, &dapr.Job{Name: name, DueTime: &due, Overwrite: true,
		Data:          &anypb.Any{TypeUrl: triggerType, Value: b},
		FailurePolicy: &dapr.JobFailurePolicyConstant{MaxRetries: &retries, Interval: &interval}})
	if err != nil {
		return jobsError(err, "schedule job "+name+" on Dapr's scheduler")
	}
	return nil
}

// Disarm deletes the job name; a job already gone is not an error.
func (s *DaprScheduler) Disarm(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.DeleteJobAlpha1(ctx, name); err != nil && !notFound(err) {
		return jobsError(err, "delete job "+name+" from Dapr's scheduler")
	}
	return nil
}

// Armed tells whether the job name is still waiting on the scheduler.
func (s *DaprScheduler) Armed(ctx context.Context, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.client.GetJobAlpha1(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	default:
		return false, jobsError(err, "read job "+name+" from Dapr's scheduler")
	}
}

// notFound: the sidecar answers a missing job with codes.NotFound, or (as
// Dapr 1.16 wraps the scheduler's answer) an error that says so.
func notFound(err error) bool {
	if st, ok := status.FromError(err); ok && st.Code() == codes.NotFound {
		return true
	}
	return strings.Contains(strings.ToLower(err.Error()), "not found")
}

func jobsError(err error, what string) error {
	return errkind.Wrap(errkind.Transient, err, what+" (is the sidecar connected to the Dapr scheduler?)")
}
