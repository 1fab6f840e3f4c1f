package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/api/protos"
	"github.com/dapr/durabletask-go/workflow"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// pendingWorkflowRunsOnAnEvent checks, on the real workflow engine, what the
// orchestrator's wake (services/orchestrator/internal/app/wake.go) relies
// on: an instance that exists but whose start reminder will not run it
// (here: its start is an hour away) runs as soon as an event is raised on
// it, because its inbox still holds its start.
func pendingWorkflowRunsOnAnEvent(t *testing.T, s *stack.Stack) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token := s.Tokens().Sidecar["orchestrator"]
	withToken := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "dapr-api-token", token)
	}
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", s.Layout.Ports().App["orchestrator"].DaprGRPC),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(withToken(ctx), method, req, reply, cc, opts...)
		}))
	require.NoError(t, err)
	defer conn.Close()
	client := workflow.NewClient(conn)
	id := "wake-check-" + randomHex(t, 6)
	_, err = client.ScheduleWorkflow(ctx, "JobWorkflow", workflow.WithInstanceID(id),
		workflow.WithInput(map[string]string{"job_id": id}), workflow.WithStartTime(time.Now().Add(time.Hour)))
	require.NoError(t, err)
	status := func() api.OrchestrationStatus {
		md, err := client.FetchWorkflowMetadata(ctx, id)
		require.NoError(t, err)
		return (*protos.OrchestrationMetadata)(md).GetRuntimeStatus()
	}
	require.Equal(t, api.RUNTIME_STATUS_PENDING, status(), "the instance exists and waits for its start")

	require.NoError(t, client.RaiseEvent(ctx, id, "job-event", workflow.WithEventPayload(map[string]string{"type": "wake"})))
	var now api.OrchestrationStatus
	require.Eventually(t, func() bool { now = status(); return now != api.RUNTIME_STATUS_PENDING }, 30*time.Second, 100*time.Millisecond,
		"the raised event runs the pending instance")
	// It ran: the workflow went on with its (empty) job and ended or runs.
	require.Contains(t, []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING, api.RUNTIME_STATUS_COMPLETED, api.RUNTIME_STATUS_FAILED}, now)
	t.Logf("the pending instance ran once an event was raised: %s", now)
	_ = client.TerminateWorkflow(ctx, id)
}
