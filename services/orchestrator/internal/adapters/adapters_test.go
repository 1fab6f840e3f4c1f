package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

const stateComponent = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
`

// uniqueID names a test sidecar: name resolution (mDNS) is machine-wide,
// so no other test or running stack must share the name.
func uniqueID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

// sidecar starts a real daprd with an in-memory state store; appPort (0:
// none) is the app it invokes for its own app id.
func sidecar(t *testing.T, appID string, appPort int) *daprclient.Sidecar {
	t.Helper()
	d := daprtest.Start(t, daprtest.Options{AppID: appID, AppPort: appPort,
		Resources: map[string]string{"statestore.yaml": stateComponent}})
	sc, err := daprclient.Connect(context.Background(), daprclient.Options{AppID: appID, HTTPPort: d.HTTPPort,
		GRPCPort: d.GRPCPort, WaitTimeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(sc.Close)
	return sc
}

func TestJobStoreOverDaprState(t *testing.T) {
	ctx := context.Background()
	s := NewJobStore(sidecar(t, uniqueID("orch-state-test"), 0).Client(), "statestore")

	_, err := s.Get(ctx, "j-missing")
	require.Equal(t, errkind.NotFound, errkind.Of(err))
	ids, err := s.Latest(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, ids)

	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := app.JobRecord{ID: "j-1", SubmittedAt: at, Spec: job.Spec{Version: 1, Connection: "c", Name: "n"}}
	require.NoError(t, s.Save(ctx, rec))
	got, err := s.Get(ctx, "j-1")
	require.NoError(t, err)
	require.Equal(t, rec.ID, got.ID)
	require.Equal(t, at, got.SubmittedAt)
	require.Equal(t, "n", got.Spec.Name)
	require.Equal(t, errkind.Conflict, errkind.Of(s.Save(ctx, rec)), "a record is never overwritten")

	// Concurrent submissions all land in the index (etag retries).
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Add(ctx, fmt.Sprintf("j-%02d", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	ids, err = s.Latest(ctx, 100)
	require.NoError(t, err)
	require.Len(t, ids, 20)
	require.NoError(t, s.Add(ctx, "j-05"), "adding twice is harmless")
	require.NoError(t, s.Add(ctx, "j-new"))
	ids, err = s.Latest(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, "j-new", ids[0], "newest first")
	require.Len(t, ids, 2)

	s.maxIndex = 5
	require.NoError(t, s.Add(ctx, "j-last"))
	ids, err = s.Latest(ctx, 100)
	require.NoError(t, err)
	require.Len(t, ids, 5, "the index keeps the newest ids")
	require.Equal(t, "j-last", ids[0])
}

func TestSlotStoreOverDaprState(t *testing.T) {
	ctx := context.Background()
	s := NewSlotStore(sidecar(t, uniqueID("orch-state-test"), 0).Client(), "statestore")
	conn := "default/postgres/1700000000"

	v, etag, err := s.Load(ctx, conn)
	require.NoError(t, err)
	require.Empty(t, v.Holders)
	require.Empty(t, etag)

	require.NoError(t, s.Save(ctx, conn, app.Slots{Holders: []string{"j-1"}}, ""))
	require.Equal(t, errkind.Conflict, errkind.Of(s.Save(ctx, conn, app.Slots{Holders: []string{"j-2"}}, "")),
		"create-only write of an existing key")

	v, etag, err = s.Load(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, []string{"j-1"}, v.Holders)
	require.NotEmpty(t, etag)
	require.NoError(t, s.Save(ctx, conn, app.Slots{Holders: []string{"j-1", "j-2"}}, etag))
	require.Equal(t, errkind.Conflict, errkind.Of(s.Save(ctx, conn, app.Slots{}, etag)), "stale etag")
	v, _, err = s.Load(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, []string{"j-1", "j-2"}, v.Holders)
}

// An app that records what it was asked and answers like the extractor
// and the publisher would.
func fakeService(t *testing.T) (int, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var calls []string
	mux := http.NewServeMux()
	record := func(r *http.Request) []byte {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path)
		mu.Unlock()
		return b
	}
	mux.HandleFunc("POST /v1/preflight", func(w http.ResponseWriter, r *http.Request) {
		var spec job.Spec
		if json.Unmarshal(record(r), &spec) != nil || spec.Connection == "" {
			http.Error(w, `{"error":{"kind":"invalid","message":"spec missing"}}`, http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(job.Preflight{OK: true, Partitions: []job.Partition{{ID: "p000", Database: spec.Connection}}})
	})
	mux.HandleFunc("POST /v1/jobs/{id}/finalize", func(w http.ResponseWriter, r *http.Request) {
		var req job.FinalizeRequest
		_ = json.Unmarshal(record(r), &req)
		_ = json.NewEncoder(w).Encode(job.Finalized{Manifests: []job.ManifestRef{{Binding: "destination",
			Key: "jobs/" + r.PathValue("id") + "/manifest.json", Files: len(req.Partitions)}}})
	})
	mux.HandleFunc("POST /v1/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /v1/jobs/{id}/manifest", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.PathValue("id") != "j-1" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"kind":"not_found","message":"no manifest for job ` + r.PathValue("id") + `"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"job_id":"j-1","files":[]}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return p, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), calls...)
	}
}

func TestInvocationClientsThroughTheSidecar(t *testing.T) {
	ctx := context.Background()
	port, calls := fakeService(t)
	// One sidecar plays both apps: it invokes its own app id, unique so
	// that name resolution (mDNS) finds no other test's sidecar.
	appID := uniqueID("orch-invoke-test")
	sc := sidecar(t, appID, port)
	ext := NewExtractorClient(sc, appID)
	pub := NewPublisherClient(sc, appID)

	pf, err := ext.Preflight(ctx, job.Spec{Connection: "sales"})
	require.NoError(t, err)
	require.Equal(t, "sales", pf.Partitions[0].Database)
	_, err = ext.Preflight(ctx, job.Spec{})
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.Contains(t, err.Error(), "spec missing")

	f, err := pub.Finalize(ctx, job.FinalizeRequest{JobID: "j-1", Partitions: []string{"p000", "p001"}})
	require.NoError(t, err)
	require.Equal(t, "jobs/j-1/manifest.json", f.Manifests[0].Key)
	require.Equal(t, 2, f.Manifests[0].Files)
	require.NoError(t, pub.Cancel(ctx, "j-1"))

	m, err := pub.Manifest(ctx, "j-1")
	require.NoError(t, err)
	require.JSONEq(t, `{"job_id":"j-1","files":[]}`, string(m))
	_, err = pub.Manifest(ctx, "j-2")
	require.Equal(t, errkind.NotFound, errkind.Of(err))
	require.Contains(t, err.Error(), "no manifest for job j-2")

	require.Equal(t, []string{
		"POST /v1/preflight", "POST /v1/preflight", "POST /v1/jobs/j-1/finalize", "POST /v1/jobs/j-1/cancel",
		"GET /v1/jobs/j-1/manifest", "GET /v1/jobs/j-2/manifest",
	}, calls())
}

type recordingPublisher struct {
	topic string
	v     any
}

func (p *recordingPublisher) Publish(_ context.Context, topic string, v any) error {
	p.topic, p.v = topic, v
	return nil
}

func TestExtractRequestsGoToTheirTopic(t *testing.T) {
	p := &recordingPublisher{}
	req := job.ExtractRequest{JobID: "j-1", Attempt: 2}
	require.NoError(t, NewExtractRequests(p).PublishExtract(context.Background(), req))
	require.Equal(t, job.TopicExtractRequests, p.topic)
	require.Equal(t, req, p.v)
}
