package controlplane

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

const catConn = "default/postgres/1"

// runFiles writes a run's rows as the agent would (one file per kind)
// and returns the files with their bytes.
func runFiles(t *testing.T, jobID string, write func(w *model.Writer)) (infos []model.FileInfo, data map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	sink, err := model.NewFileSink(dir)
	require.NoError(t, err)
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: jobID, ExtractedAt: time.Now()})
	require.NoError(t, err)
	write(w)
	require.NoError(t, w.Close())
	infos, err = sink.Close()
	require.NoError(t, err)
	data = map[string][]byte{}
	for _, f := range infos {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		require.NoError(t, err)
		data[f.SHA256] = b
	}
	return infos, data
}

func table(w *model.Writer, t *testing.T, name, comment string) {
	n := model.Names{Connection: catConn, Database: "db", Schema: "s", Table: name}
	require.NoError(t, w.Table(model.Table{QualifiedName: n.TableQN(), ParentQualifiedName: n.SchemaQN(), Database: "db", Schema: "s",
		Name: name, Kind: model.TableKindTable, Comment: model.Ptr(comment)}))
}

// sendRun uploads a run's files and its manifest, and answers the
// manifest's status and body.
func (h *harness) sendRun(mode, base string, write func(w *model.Writer)) (string, int, string) {
	h.t.Helper()
	jobID, err := h.srv.Enqueue(map[string]any{})
	require.NoError(h.t, err)
	infos, data := runFiles(h.t, jobID, write)
	var files []map[string]any
	for _, f := range infos {
		resp, body := h.call(http.MethodPut, "/jobs/"+jobID+"/files/"+f.SHA256, data[f.SHA256], fileHeaders(f.Name, string(f.Kind), int(f.Rows)))
		require.Equal(h.t, http.StatusCreated, resp.StatusCode, "%s", body)
		files = append(files, map[string]any{"name": f.Name, "sha256": f.SHA256, "kind": f.Kind, "rows": f.Rows})
	}
	manifest := map[string]any{"version": 1, "job_id": jobID, "mode": mode, "base": base, "files": files,
		"source": map[string]any{"kind": "postgres", "connection": catConn}}
	resp, body := h.callJSON(http.MethodPut, "/jobs/"+jobID+"/manifest", manifest)
	if resp.StatusCode == http.StatusOK {
		// A repeated manifest changes nothing.
		again, _ := h.callJSON(http.MethodPut, "/jobs/"+jobID+"/manifest", manifest)
		require.Equal(h.t, http.StatusOK, again.StatusCode)
	}
	return jobID, resp.StatusCode, string(body)
}

func (h *harness) catalogComments() map[string]string {
	assets, _ := h.srv.Catalog(catConn)
	out := map[string]string{}
	for _, a := range assets {
		out[a.Kind+" "+a.QualifiedName[len(catConn)+1:]] = a.Attributes["comment"]
	}
	return out
}

func TestCatalogAppliesRunsInOrder(t *testing.T) {
	h := start(t, nil)
	h.login()
	first, status, body := h.sendRun(model.ModeFull, "", func(w *model.Writer) {
		table(w, t, "t1", "one")
		table(w, t, "t2", "two")
	})
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, map[string]string{"table db/s/t1": "one", "table db/s/t2": "two"}, h.catalogComments())

	second, status, body := h.sendRun(model.ModeIncremental, first, func(w *model.Writer) {
		table(w, t, "t2", "two, changed")
		table(w, t, "t3", "three")
		require.NoError(t, w.Tombstone(model.Tombstone{QualifiedName: catConn + "/db/s/t1", ParentQualifiedName: catConn + "/db/s",
			AssetKind: model.KindTable, Reason: model.ReasonDropped}))
	})
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, map[string]string{"table db/s/t2": "two, changed", "table db/s/t3": "three"}, h.catalogComments())

	// A run based on an older run is refused whole.
	_, status, body = h.sendRun(model.ModeIncremental, first, func(w *model.Writer) { table(w, t, "t9", "late") })
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, body, "out_of_order")
	require.Contains(t, body, "is at run "+second)
	require.NotContains(t, h.catalogComments(), "table db/s/t9")

	// A full run applies whatever its base: without one (the agent lost its
	// state) it upserts and deletes nothing; with an old one, it is how an
	// agent whose state fell behind the catalog catches up.
	_, status, body = h.sendRun(model.ModeFull, "", func(w *model.Writer) { table(w, t, "t4", "four") })
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, h.catalogComments(), 3)
	_, status, body = h.sendRun(model.ModeFull, first, func(w *model.Writer) { table(w, t, "t5", "five") })
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, h.catalogComments(), 4)
	_, runs := h.srv.Catalog(catConn)
	require.Len(t, runs, 4)
}
