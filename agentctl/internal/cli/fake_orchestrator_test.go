package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// fakeOrchestrator serves the orchestrator's job API the way ADR 0007
// describes it. Each job follows a script of statuses chosen by its spec's
// name; every GET of the job moves it one step on (the last step repeats),
// so a watcher sees a realistic progression however fast it polls.
//
//	ok    pending → preflight → extract (3 partitions, one retried) → finalize → succeeded
//	fail  pending → preflight → extract → failed (a partition's error)
//	long  pending → extract, for ever, until cancelled
//	many  like ok but with 12 partitions
//	nomatch  pending → preflight → failed: an include filter matched nothing (with a warning)
//	warned   like ok, with preflight warnings
type fakeOrchestrator struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	next        int
	jobs        map[string]*fakeJob
	order       []string
	submissions []submission
	polls       chan string // job id of every GET, for tests that act mid-watch

	// drop makes every request end with a closed connection, as when the
	// orchestrator restarts; dropped counts them.
	drop    atomic.Bool
	dropped atomic.Int64
}

type fakeJob struct {
	script    []job.Status
	step      int
	cancelled bool
}

type submission struct {
	contentType string
	body        string
}

// base is the fake's clock for every timestamp it reports.
var base = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newFakeOrchestrator(t *testing.T) *fakeOrchestrator {
	f := &fakeOrchestrator{t: t, jobs: map[string]*fakeJob{}, polls: make(chan string, 1000)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", f.submit)
	mux.HandleFunc("GET /v1/jobs", f.list)
	mux.HandleFunc("GET /v1/jobs/{id}", f.status)
	mux.HandleFunc("POST /v1/jobs/{action}", f.cancel) // {id}:cancel
	mux.HandleFunc("GET /v1/jobs/{id}/manifest", f.manifest)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.drop.Load() {
			f.dropped.Add(1)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOrchestrator) url() string { return f.srv.URL }

func apiErr(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"kind": kind, "message": msg, "request_id": "req-42"}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeOrchestrator) submit(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	spec, err := job.ParseSpec(body)
	if err != nil {
		apiErr(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submissions = append(f.submissions, submission{contentType: r.Header.Get("Content-Type"), body: string(body)})
	f.next++
	id := "j-" + strconv.Itoa(f.next)
	submitted := base.Add(time.Duration(f.next) * time.Minute)
	f.jobs[id] = &fakeJob{script: script(id, spec, submitted)}
	f.order = append(f.order, id)
	writeJSON(w, http.StatusAccepted, job.Submitted{ID: id, State: job.Pending})
}

func (f *fakeOrchestrator) current(id string) (job.Status, bool) {
	j, ok := f.jobs[id]
	if !ok {
		return job.Status{}, false
	}
	return j.script[min(j.step, len(j.script)-1)], true
}

func (f *fakeOrchestrator) status(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	st, ok := f.current(id)
	if ok {
		f.jobs[id].step++
	}
	f.mu.Unlock()
	if !ok {
		apiErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("job %q not found", id))
		return
	}
	f.polls <- id
	writeJSON(w, http.StatusOK, st)
}

func (f *fakeOrchestrator) list(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 {
		apiErr(w, http.StatusBadRequest, "invalid", "limit must be a positive number")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Oldest first on purpose: agentctl must order the table itself.
	out := job.List{Jobs: []job.Status{}}
	for _, id := range f.order {
		st, _ := f.current(id)
		out.Jobs = append(out.Jobs, st)
	}
	if len(out.Jobs) > limit {
		out.Jobs = out.Jobs[len(out.Jobs)-limit:]
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeOrchestrator) cancel(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("action"), ":cancel")
	if !ok {
		apiErr(w, http.StatusNotFound, "not_found", "no such route")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.current(id)
	switch {
	case !ok:
		apiErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("job %q not found", id))
	case st.State.Terminal():
		apiErr(w, http.StatusConflict, "conflict", fmt.Sprintf("job %s already %s", id, st.State))
	default:
		j := f.jobs[id]
		j.cancelled = true
		cancelled := st
		cancelled.State, cancelled.Phase = job.Cancelled, ""
		fin := base.Add(time.Hour)
		cancelled.FinishedAt = &fin
		j.script = []job.Status{cancelled}
		j.step = 0
		writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
	}
}

func (f *fakeOrchestrator) manifest(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	st, ok := f.current(id)
	f.mu.Unlock()
	switch {
	case !ok:
		apiErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("job %q not found", id))
	case st.State != job.Succeeded:
		apiErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("job %s is %s: no manifest", id, st.State))
	default:
		data, err := model.EncodeManifest(fakeManifest(id))
		if err != nil {
			f.t.Errorf("encode manifest: %v", err)
		}
		// Compact on the wire: agentctl indents it.
		var compact bytes.Buffer
		_ = json.Compact(&compact, data)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(compact.Bytes())
	}
}

func fakeManifest(id string) model.Manifest {
	return model.Manifest{
		Version: model.ManifestVersion, JobID: id,
		Source:    model.ManifestSource{Kind: "sqlite", Connection: "default/sqlite/demo"},
		StartedAt: base, FinishedAt: base.Add(3200 * time.Millisecond),
		Files: []model.FileInfo{{Name: "p000/table-000.arrows", Kind: model.KindTable, Rows: 2,
			Bytes: 10, SHA256: strings.Repeat("ab", 32)}},
		Rows: map[model.Kind]int64{model.KindTable: 2},
	}
}

func ptr(t time.Time) *time.Time { return &t }

func parts(states ...job.State) []job.PartitionStatus {
	var out []job.PartitionStatus
	for i, s := range states {
		p := job.PartitionStatus{Partition: job.Partition{ID: fmt.Sprintf("p%03d", i), Database: "main", Tables: 4}, State: s, Attempts: 1}
		if s == job.Pending {
			p.Attempts = 0
		}
		out = append(out, p)
	}
	return out
}

// script is the life of one job, by its spec's name.
func script(id string, spec job.Spec, submitted time.Time) []job.Status {
	started := submitted.Add(500 * time.Millisecond)
	st := func(state job.State, phase string) job.Status {
		s := job.Status{ID: id, Name: spec.Name, Connection: spec.Connection, SourceKind: spec.Source.Kind,
			State: state, Phase: phase, SubmittedAt: submitted}
		if state != job.Pending {
			s.StartedAt = ptr(started)
		}
		return s
	}
	rows1 := map[model.Kind]int64{model.KindTable: 200, model.KindColumn: 1000}
	rows2 := map[model.Kind]int64{model.KindDatabase: 1, model.KindSchema: 3, model.KindTable: 210, model.KindColumn: 1020}
	switch spec.Name {
	case "nomatch":
		failed := st(job.Failed, "")
		failed.Errors = []string{`preflight check filter include_tables ^(?:main\.nosuch)$ failed: filter include_tables "main\\.nosuch" matches no tables in /data/demo.db — check the pattern; or, if an empty match is expected, set allow_empty_match: true in the job spec`}
		failed.Warnings = []string{`preflight check filter exclude_tables ^(?:main\.nope)$: filter exclude_tables "main\\.nope" matches no tables in /data/demo.db — remove the filter`}
		failed.FinishedAt = ptr(started.Add(time.Second))
		return []job.Status{st(job.Pending, ""), st(job.Running, "preflight"), failed}
	case "warned":
		spec.Name = "ok"
		out := script(id, spec, submitted)
		for i := range out {
			out[i].Name = "warned"
			if out[i].Phase != "preflight" && out[i].State != job.Pending {
				out[i].Warnings = []string{`preflight check filter include_tables ^(?:main\.nosuch)$: filter include_tables "main\\.nosuch" matches no tables — check the pattern`}
			}
		}
		return out
	case "fail":
		extract := st(job.Running, "extract")
		extract.Partitions = parts(job.Extracting, job.Pending)
		failed := st(job.Failed, "")
		failed.Partitions = parts(job.Failed, job.Pending)
		failed.Partitions[0].Error = "connection reset by peer"
		failed.Partitions[0].Attempts = 3
		failed.Errors = []string{"partition p000 failed after 3 attempts: connection reset by peer"}
		failed.FinishedAt = ptr(started.Add(2 * time.Second))
		return []job.Status{st(job.Pending, ""), st(job.Running, "preflight"), extract, failed}
	case "long":
		extract := st(job.Running, "extract")
		extract.Partitions = parts(job.Extracting)
		extract.Rows, extract.Assets = rows1, 1200
		return []job.Status{st(job.Pending, ""), extract}
	}
	n := 3
	if spec.Name == "many" {
		n = 12
	}
	states := func(s ...job.State) []job.PartitionStatus {
		for len(s) < n {
			s = append(s, s[len(s)-1])
		}
		return parts(s...)
	}
	e1 := st(job.Running, "extract")
	e1.Partitions = states(job.Extracting, job.Pending)
	e2 := st(job.Running, "extract")
	e2.Partitions = states(job.Succeeded, job.Extracting, job.Pending)
	e2.Partitions[1].Attempts = 2
	e2.Rows, e2.Assets = rows1, 1200
	fin := st(job.Running, "finalize")
	fin.Partitions = states(job.Succeeded)
	fin.Rows, fin.Assets = rows2, 1234
	done := fin
	done.State, done.Phase = job.Succeeded, ""
	done.FinishedAt = ptr(started.Add(3200 * time.Millisecond))
	done.Manifest = &job.ManifestRef{Binding: spec.Destinations[0].Binding, Key: spec.Destinations[0].Prefix + "/" + id + "/manifest.json", Files: 3, Bytes: 1300}
	done.Mode = model.ModeIncremental
	done.Changes = map[model.Kind]model.ChangeCounts{model.KindTable: {Created: 2, Updated: 1, Unchanged: 40, Deleted: 1},
		model.KindColumn: {Created: 5, Unchanged: 400, Withheld: 3}}
	return []job.Status{st(job.Pending, ""), st(job.Running, "preflight"), e1, e2, fin, done}
}
