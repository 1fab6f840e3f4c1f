package adapters

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/publisher/internal/app"
)

// ingestCall is one call the store made to the client.
type ingestCall struct {
	op, jobID, sha, name, kind string
	rows                       int64
	body                       string
}

// fakeIngest answers like libs/controlplane.Client: has answers HasFile,
// errs the named operation.
type fakeIngest struct {
	has   map[string]bool
	errs  map[string]error
	calls []ingestCall
}

func (f *fakeIngest) HasFile(_ context.Context, jobID, sha string) (bool, error) {
	f.calls = append(f.calls, ingestCall{op: "has", jobID: jobID, sha: sha})
	return f.has[sha], f.errs["has"]
}

func (f *fakeIngest) IngestFile(_ context.Context, jobID, sha, name, kind string, rows int64, body []byte) (string, error) {
	f.calls = append(f.calls, ingestCall{op: "ingest", jobID: jobID, sha: sha, name: name, kind: kind, rows: rows, body: string(body)})
	return "rcpt-" + sha[:8], f.errs["ingest"]
}

func (f *fakeIngest) IngestManifest(_ context.Context, jobID string, manifest []byte) error {
	f.calls = append(f.calls, ingestCall{op: "manifest", jobID: jobID, body: string(manifest)})
	return f.errs["manifest"]
}

var _ app.JobFileStore = (*ControlPlaneStore)(nil)

func TestControlPlaneStore(t *testing.T) {
	ctx := context.Background()
	sha := strings.Repeat("ab", 32)
	file := model.FileInfo{Kind: model.KindTableStats, Name: "p000/table_stats-000.arrows", Rows: 7, Bytes: 5, SHA256: sha}
	newStore := func(t *testing.T, c *fakeIngest) (*ControlPlaneStore, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		s, err := NewControlPlaneStore(c, nil, reg)
		require.NoError(t, err)
		return s, reg
	}
	count := func(s *ControlPlaneStore, result string) float64 {
		return testutil.ToFloat64(s.files.WithLabelValues(result))
	}

	t.Run("a new file is asked for, then sent", func(t *testing.T) {
		c := &fakeIngest{}
		s, _ := newStore(t, c)
		receipt, err := s.PutJobFile(ctx, "cp-1", file, []byte("arrow"))
		require.NoError(t, err)
		require.Equal(t, "rcpt-"+sha[:8], receipt, "the control plane's receipt is passed on")
		require.Equal(t, []ingestCall{
			{op: "has", jobID: "cp-1", sha: sha},
			{op: "ingest", jobID: "cp-1", sha: sha, name: file.Name, kind: "table_stats", rows: 7, body: "arrow"},
		}, c.calls)
		require.Equal(t, 1.0, count(s, "ingested"))
		require.Zero(t, count(s, "skipped"))
	})
	t.Run("a file the control plane has is skipped", func(t *testing.T) {
		c := &fakeIngest{has: map[string]bool{sha: true}}
		s, _ := newStore(t, c)
		_, err := s.PutJobFile(ctx, "cp-1", file, []byte("arrow"))
		require.NoError(t, err)
		require.Equal(t, []ingestCall{{op: "has", jobID: "cp-1", sha: sha}}, c.calls)
		require.Equal(t, 1.0, count(s, "skipped"))
		require.Zero(t, count(s, "ingested"))
	})
	t.Run("failures keep their kind", func(t *testing.T) {
		for op, kind := range map[string]errkind.Kind{"has": errkind.Transient, "ingest": errkind.Unauthorized} {
			c := &fakeIngest{errs: map[string]error{op: errkind.New(kind, "controlplane "+op+" failed")}}
			s, _ := newStore(t, c)
			_, err := s.PutJobFile(ctx, "cp-1", file, []byte("arrow"))
			require.Equal(t, kind, errkind.Of(err), "%v", err)
			require.ErrorContains(t, err, file.Name)
			require.Zero(t, count(s, "ingested"))
			if op == "has" {
				require.Len(t, c.calls, 1, "nothing sent without knowing")
			}
		}
	})
	t.Run("the manifest", func(t *testing.T) {
		c := &fakeIngest{}
		s, _ := newStore(t, c)
		require.NoError(t, s.PutJobManifest(ctx, "cp-1", []byte(`{"files":[]}`)))
		require.Equal(t, []ingestCall{{op: "manifest", jobID: "cp-1", body: `{"files":[]}`}}, c.calls)

		c.errs = map[string]error{"manifest": errkind.New(errkind.Conflict, "upload these files before the manifest")}
		err := s.PutJobManifest(ctx, "cp-1", []byte(`{}`))
		require.Equal(t, errkind.Conflict, errkind.Of(err))
		require.ErrorContains(t, err, "manifest of job cp-1")
	})
	t.Run("no object keys", func(t *testing.T) {
		s, _ := newStore(t, &fakeIngest{})
		require.Error(t, s.Put(ctx, "jobs/j/p000/column-000.arrows", nil))
		_, err := s.Get(ctx, "jobs/j/manifest.json")
		require.Equal(t, errkind.NotFound, errkind.Of(err))
	})
	t.Run("metrics are registered", func(t *testing.T) {
		_, reg := newStore(t, &fakeIngest{})
		n, err := testutil.GatherAndCount(reg, "secure_agent_publisher_controlplane_files_total")
		require.NoError(t, err)
		require.Equal(t, 2, n, "both results exported from the start")
	})
}

func TestDestinationsOpen(t *testing.T) {
	bindings := NewBindingStores(nil)

	_, err := NewDestinations(bindings, nil).Open(job.DestinationControlPlane)
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.ErrorContains(t, err, "set CONTROLPLANE_URL and CONTROLPLANE_TOKEN_URL on the publisher")

	cp, err := NewControlPlaneStore(&fakeIngest{}, nil, nil)
	require.NoError(t, err)
	d := NewDestinations(bindings, cp)
	got, err := d.Open(job.DestinationControlPlane)
	require.NoError(t, err)
	require.Same(t, cp, got)

	out, err := d.Open("s3")
	require.NoError(t, err)
	require.Same(t, bindings.Store("s3"), out, "other names are output bindings")
}
