package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

type fakeInvoker struct {
	answer string
	err    error
	calls  []string
}

func (f *fakeInvoker) InvokeJSON(_ context.Context, appID, verb, method string, in, out any) error {
	f.calls = append(f.calls, appID+" "+verb+" "+method)
	if in != nil {
		return errors.New("the job list takes no body")
	}
	if f.err != nil {
		return f.err
	}
	return json.Unmarshal([]byte(f.answer), out)
}

func TestListJobsAsksTheOrchestrator(t *testing.T) {
	inv := &fakeInvoker{answer: `{"jobs":[{"id":"j1","state":"running","connection":"pg","source_kind":"postgres","submitted_at":"2031-01-02T03:04:05Z","assets":0}]}`}
	l, err := NewOrchestratorJobs(inv, "orchestrator").ListJobs(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"orchestrator " + http.MethodGet + " /v1/jobs"}, inv.calls)
	require.Len(t, l.Jobs, 1)
	require.Equal(t, job.Running, l.Jobs[0].State)
}

func TestListJobsExplainsAnAccessControlRefusal(t *testing.T) {
	inv := &fakeInvoker{err: errkind.New(errkind.Unauthorized, "GET /v1/jobs on orchestrator answered 403: access denied")}
	_, err := NewOrchestratorJobs(inv, "orchestrator").ListJobs(context.Background())
	require.ErrorContains(t, err, "orchestrator's access-control policy must allow health to call GET /v1/jobs")
	require.Equal(t, errkind.Unauthorized, errkind.Of(err))

	inv = &fakeInvoker{err: errkind.New(errkind.Transient, "connection refused")}
	_, err = NewOrchestratorJobs(inv, "orchestrator").ListJobs(context.Background())
	require.ErrorContains(t, err, "list jobs of orchestrator: connection refused")
	require.Equal(t, errkind.Transient, errkind.Of(err))
}
