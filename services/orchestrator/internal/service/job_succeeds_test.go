package service

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

func TestTwoPartitionJobSucceeds(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	id := s.submit(specFor("two", "default/postgres/ok", "30s", "ok_sales", "ok_hr"))

	st := s.waitEnd(id, 60*time.Second)
	require.Equal(t, job.Succeeded, st.State, "errors: %v", st.Errors)
	require.Empty(t, st.Errors)
	require.Equal(t, "two", st.Name)
	require.Equal(t, "default/postgres/ok", st.Connection)
	require.Equal(t, "postgres", st.SourceKind)
	require.NotNil(t, st.StartedAt)
	require.NotNil(t, st.FinishedAt)
	require.Len(t, st.Partitions, 2)
	for i, p := range st.Partitions {
		require.Equal(t, job.Succeeded, p.State, p.ID)
		require.Equal(t, 1, p.Attempts, p.ID)
		require.Equal(t, []string{"ok_sales", "ok_hr"}[i], p.Database)
		require.Equal(t, rowsOf, p.Rows)
	}
	want := map[model.Kind]int64{}
	for k, n := range rowsOf {
		want[k] = 2 * n
	}
	require.Equal(t, want, st.Rows)
	require.Equal(t, int64(56), st.Assets)
	require.Equal(t, &job.ManifestRef{Binding: "destination", Key: "jobs/" + id + "/manifest.json", Files: 2, Bytes: 100}, st.Manifest)

	// Every request carried the job's start; each partition was asked once.
	require.ElementsMatch(t, []string{"p000#1", "p001#1"}, s.world.requestsOf(id))
	for _, r := range s.world.requestList(id) {
		require.Equal(t, *st.StartedAt, r.ExtractedAt)
		require.Equal(t, "default/postgres/ok", r.Spec.Connection)
	}
	fin := s.world.finalizedJobs()
	require.Len(t, fin, 1)
	require.Equal(t, []string{"p000", "p001"}, fin[0].Partitions)
	require.Equal(t, 8, fin[0].Queries)
	require.Equal(t, *st.StartedAt, fin[0].StartedAt)
	require.Empty(t, s.world.cancelled(), "a job that succeeded is not cancelled at the publisher")
	require.Empty(t, s.slots("default/postgres/ok"), "the slot is released")

	// Listing, manifest, and a cancel that comes too late.
	a := s.do(http.MethodGet, "/v1/jobs?limit=5", "")
	require.Equal(t, http.StatusOK, a.Status)
	var list job.List
	require.NoError(t, json.Unmarshal(a.Body, &list))
	require.Len(t, list.Jobs, 1)
	require.Equal(t, id, list.Jobs[0].ID)
	require.Equal(t, job.Succeeded, list.Jobs[0].State)

	a = s.do(http.MethodGet, "/v1/jobs/"+id+"/manifest", "")
	require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	require.JSONEq(t, `{"job_id":"`+id+`"}`, string(a.Body))

	a = s.do(http.MethodPost, "/v1/jobs/"+id+":cancel", "")
	require.Equal(t, http.StatusConflict, a.Status, "%s", a.Body)
	require.Contains(t, string(a.Body), "succeeded")

	// An event for a finished job is acknowledged (not dead-lettered) and changes nothing.
	s.world.send(job.TopicPublishDone, job.PublishDone{JobID: id, Partition: "p000", OK: false, Error: "late"})
	require.Equal(t, job.Succeeded, s.status(id).State)
}

func TestPreflightFailureEndsTheJob(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	id := s.submit(specFor("bad-preflight", "default/postgres/bad", "30s", "ok_a"))
	st := s.waitEnd(id, 60*time.Second)
	require.Equal(t, job.Failed, st.State)
	require.Equal(t, []string{"preflight check connect failed: password authentication failed — check the secret agent-db-password"}, st.Errors)
	require.Empty(t, s.world.requestsOf(id))
	require.Equal(t, []string{id}, s.world.cancelled())

	a := s.do(http.MethodGet, "/v1/jobs/j-20990101-000000-000-000000", "")
	require.Equal(t, http.StatusNotFound, a.Status, "%s", a.Body)
	a = s.do(http.MethodPost, "/v1/jobs", "version: 1\n")
	require.Equal(t, http.StatusBadRequest, a.Status)
	require.Contains(t, string(a.Body), "connection:")
	require.Contains(t, string(a.Body), "source.kind:")
}
