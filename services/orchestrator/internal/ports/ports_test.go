package ports

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/httpserver"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/libs/pubsub/pubsubtest"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// engine is an in-memory job store, index, runner and manifest reader.
type engine struct {
	mu        sync.Mutex
	runs      map[string]app.Run
	ids       []string
	notified  []string
	notifyErr error
}

func newEngine() *engine { return &engine{runs: map[string]app.Run{}} }

func (e *engine) Save(context.Context, app.JobRecord) error { return nil }
func (e *engine) Get(_ context.Context, id string) (app.JobRecord, error) {
	return app.JobRecord{}, errkind.New(errkind.NotFound, id)
}
func (e *engine) Add(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids = append(e.ids, id)
	return nil
}
func (e *engine) Latest(_ context.Context, limit int) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for i := len(e.ids) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, e.ids[i])
	}
	return out, nil
}
func (e *engine) Start(_ context.Context, id string, in app.WorkflowInput) error {
	b, _ := json.Marshal(in)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runs[id] = app.Run{Found: true, State: app.RunRunning, Input: string(b)}
	return nil
}
func (e *engine) Inspect(_ context.Context, id string) (app.Run, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[id], nil
}
func (e *engine) Notify(_ context.Context, id string, ev app.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.notifyErr != nil {
		return e.notifyErr
	}
	e.notified = append(e.notified, id+" "+string(ev.Type))
	return nil
}
func (e *engine) Manifest(_ context.Context, id string) (json.RawMessage, error) {
	if id == "j-1" {
		return json.RawMessage(`{"job_id":"j-1"}`), nil
	}
	return nil, errkind.New(errkind.NotFound, "GET /v1/jobs/"+id+"/manifest on publisher answered 404: no manifest")
}

func newServer(t *testing.T, e *engine) *fiber.App {
	t.Helper()
	srv, err := httpserver.New(httpserver.Options{Name: "orchestrator", Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	n := 0
	RegisterHTTP(srv.App(), app.NewJobs(e, e, e, e, app.JobsOptions{ListLimit: 2, NewID: func(time.Time) string {
		n++
		return "j-" + string(rune('0'+n))
	}}))
	return srv.App()
}

type reply struct {
	status int
	body   string
	header http.Header
}

func call(t *testing.T, f *fiber.App, method, path, body string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	resp, err := f.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, body: string(b), header: resp.Header}
}

const spec = `{"version":1,"connection":"default/postgres/1","source":{"kind":"postgres","dsn":"postgres://agent@db/sales"}}`

func TestJobAPI(t *testing.T) {
	e := newEngine()
	f := newServer(t, e)

	r := call(t, f, http.MethodPost, "/v1/jobs", spec)
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	require.JSONEq(t, `{"id":"j-1","state":"pending"}`, r.body)
	require.Equal(t, "/v1/jobs/j-1", r.header.Get("Location"))
	call(t, f, http.MethodPost, "/v1/jobs", spec)
	call(t, f, http.MethodPost, "/v1/jobs", spec)

	r = call(t, f, http.MethodGet, "/v1/jobs/j-1", "")
	require.Equal(t, http.StatusOK, r.status)
	var st job.Status
	require.NoError(t, json.Unmarshal([]byte(r.body), &st))
	require.Equal(t, "j-1", st.ID)
	require.Equal(t, "default/postgres/1", st.Connection)

	r = call(t, f, http.MethodGet, "/v1/jobs", "")
	var list job.List
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	require.Len(t, list.Jobs, 2, "JOB_LIST_LIMIT caps the listing")
	require.Equal(t, "j-3", list.Jobs[0].ID)
	r = call(t, f, http.MethodGet, "/v1/jobs?limit=1", "")
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	require.Len(t, list.Jobs, 1)

	for _, path := range []string{"/v1/jobs/j-1:cancel", "/v1/jobs/j-2%3Acancel"} {
		r = call(t, f, http.MethodPost, path, "")
		require.Equal(t, http.StatusAccepted, r.status, "%s: %s", path, r.body)
		require.Contains(t, r.body, `"state":"pending"`)
	}
	require.Equal(t, []string{"j-1 cancel", "j-2 cancel"}, e.notified)

	e.runs["j-1"] = app.Run{Found: true, State: app.RunCompleted, Output: `{"id":"j-1","state":"succeeded"}`}
	r = call(t, f, http.MethodGet, "/v1/jobs/j-1/manifest", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.JSONEq(t, `{"job_id":"j-1"}`, r.body)
}

func TestJobAPIErrors(t *testing.T) {
	e := newEngine()
	f := newServer(t, e)
	require.NoError(t, e.Start(context.Background(), "j-done", app.WorkflowInput{JobID: "j-done"}))
	e.runs["j-done"] = app.Run{Found: true, State: app.RunCompleted, Output: `{"id":"j-done","state":"failed"}`}

	cases := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"invalid spec", http.MethodPost, "/v1/jobs", `{"version":1}`, 400, "connection:"},
		{"not json nor yaml", http.MethodPost, "/v1/jobs", "{", 400, "not valid JSON"},
		{"empty spec", http.MethodPost, "/v1/jobs", "", 400, "empty"},
		{"spec too big", http.MethodPost, "/v1/jobs", strings.Repeat("#", 1<<20+1), 400, "limit"},
		{"bad limit", http.MethodGet, "/v1/jobs?limit=x", "", 400, "limit"},
		{"unknown job", http.MethodGet, "/v1/jobs/j-nope", "", 404, "unknown"},
		{"bad id", http.MethodGet, "/v1/jobs/bad%20id", "", 400, "not a job id"},
		{"dot segment", http.MethodGet, "/v1/jobs/%2e%2e", "", 400, "not canonical"},
		{"cancel unknown", http.MethodPost, "/v1/jobs/j-nope:cancel", "", 404, "unknown"},
		{"cancel finished", http.MethodPost, "/v1/jobs/j-done:cancel", "", 409, "already ended (failed)"},
		{"unknown operation", http.MethodPost, "/v1/jobs/j-done:pause", "", 404, ":cancel"},
		{"manifest of an unknown job", http.MethodGet, "/v1/jobs/j-2/manifest", "", 404, "job j-2 is unknown"},
		{"manifest of a failed job", http.MethodGet, "/v1/jobs/j-done/manifest", "", 409, "failed: it has no manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, f, tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, r.status, r.body)
			var body httpserver.ErrorBody
			require.NoError(t, json.Unmarshal([]byte(r.body), &body), r.body)
			require.Contains(t, body.Error.Message, tc.contains)
		})
	}

	e.runs["j-live"] = app.Run{Found: true, State: app.RunRunning}
	e.notifyErr = errors.New("sidecar down")
	r := call(t, f, http.MethodPost, "/v1/jobs/j-live:cancel", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.body)
}

func TestSubscriptionsAnswerByErrorKind(t *testing.T) {
	e := newEngine()
	e.runs["j-live"] = app.Run{Found: true, State: app.RunRunning}
	e.runs["j-done"] = app.Run{Found: true, State: app.RunCompleted}
	f := fiber.New()
	router, err := pubsub.NewRouter(f, "pubsub", nil, nil)
	require.NoError(t, err)
	RegisterSubscriptions(router, app.NewForwarder(e, nil, nil))

	require.Equal(t, "SUCCESS", pubsubtest.Deliver(t, f, job.TopicPartitionDone, `{"job_id":"j-live","partition":"p000","attempt":1,"ok":true}`))
	require.Equal(t, "SUCCESS", pubsubtest.Deliver(t, f, job.TopicPublishDone, `{"job_id":"j-live","partition":"p000","ok":true}`))
	require.Equal(t, []string{"j-live partition-done", "j-live publish-done"}, e.notified)
	require.Equal(t, "SUCCESS", pubsubtest.Deliver(t, f, job.TopicPublishDone, `{"job_id":"j-done","partition":"p000","ok":true}`), "finished job: acknowledged")
	require.Equal(t, "DROP", pubsubtest.Deliver(t, f, job.TopicPartitionDone, `{"job_id":"j-unknown","partition":"p000"}`))
	require.Equal(t, "DROP", pubsubtest.Deliver(t, f, job.TopicPartitionDone, `"not an object"`))
	require.Equal(t, "DROP", pubsubtest.Deliver(t, f, job.TopicPublishDone, `{"partition":"p000"}`))
	e.notifyErr = errors.New("workflow engine not ready")
	require.Equal(t, "RETRY", pubsubtest.Deliver(t, f, job.TopicPublishDone, `{"job_id":"j-live","partition":"p000","ok":true}`))

	r := call(t, f, http.MethodGet, "/dapr/subscribe", "")
	require.JSONEq(t, `[
		{"pubsubname":"pubsub","topic":"partition-done","route":"/events/partition-done"},
		{"pubsubname":"pubsub","topic":"publish-done","route":"/events/publish-done"}]`, r.body)
}

func (e *engine) Plan(_ context.Context, id string) (json.RawMessage, error) {
	return nil, errkind.New(errkind.NotFound, "GET /v1/jobs/"+id+"/plan on publisher answered 404: no plan")
}
