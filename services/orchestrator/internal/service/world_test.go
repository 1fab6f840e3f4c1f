package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// world stands in for the extractor and the publisher: it plans one
// partition per database and answers extract requests by publishing
// PartitionDone and PublishDone through the sidecar's real pub/sub, so
// the orchestrator's subscriptions carry them into the workflow. What it
// does depends on the database's name:
//
//	ok*     answer at once (each event twice: the broker delivers at least once)
//	silent* never answer
//	hold*   answer once released
//	flaky*  fail retryably on attempt 1, then answer
type world struct {
	t       *testing.T
	sidecar *daprclient.Sidecar
	pub     *pubsub.Publisher

	mu        sync.Mutex
	requests  []job.ExtractRequest
	cancels   []string
	finalized []job.FinalizeRequest
	held      map[string]chan struct{}
	sendErrs  []error
	closed    bool
	// preflighted lists the job name of every preflight call.
	preflighted []string
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// preflights counts the preflight calls of jobs named name.
func (w *world) preflights(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, v := range w.preflighted {
		if v == name {
			n++
		}
	}
	return n
}

// newWorld publishes through sidecar. Its goroutines never touch t (they
// may outlive the test); failed sends are reported when the test ends.
func newWorld(t *testing.T, sidecar *daprclient.Sidecar) *world {
	w := &world{t: t, sidecar: sidecar, pub: pubsub.NewPublisher(sidecar.Client(), "pubsub"), held: map[string]chan struct{}{}}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.closed = true
		for _, err := range w.sendErrs {
			t.Errorf("fake extractor/publisher: %v", err)
		}
	})
	return w
}

func (w *world) collaborators() Collaborators {
	return Collaborators{Preflighter: w, Requests: w, Finalizer: w, Manifests: w, Destinations: w}
}

// CheckDestinations stands for the publisher's list: only "destination".
func (w *world) CheckDestinations(_ context.Context, dests []job.Destination) error {
	for _, d := range dests {
		if d.Binding != job.DefaultDestination {
			return errkind.New(errkind.Invalid, "destinations: "+d.Binding+" is not a destination of the publisher")
		}
	}
	return nil
}

var rowsOf = map[model.Kind]int64{model.KindDatabase: 1, model.KindSchema: 2, model.KindTable: 5, model.KindColumn: 20}

func (w *world) Preflight(ctx context.Context, spec job.Spec) (job.Preflight, error) {
	w.mu.Lock()
	w.preflighted = append(w.preflighted, spec.Name)
	gate := w.gate("preflight")
	if spec.Name != "hold-preflight" {
		gate = closed
	}
	w.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done(): // the worker stopped
		return job.Preflight{}, ctx.Err()
	}
	if spec.Name == "unreachable-extractor" {
		return job.Preflight{}, errkind.New(errkind.Transient, "POST /v1/preflight on extractor answered 500: couldn't find service: extractor")
	}
	if spec.Name == "bad-preflight" {
		return job.Preflight{OK: false, Checks: []job.Check{{Name: "connect", Status: "fail",
			Detail: "password authentication failed", Remediation: "check the secret agent-db-password"}}}, nil
	}
	pf := job.Preflight{OK: true, Checks: []job.Check{{Name: "connect", Status: "pass"}}}
	for i, db := range spec.Source.Databases {
		pf.Partitions = append(pf.Partitions, job.Partition{ID: fmt.Sprintf("p%03d", i), Database: db})
	}
	return pf, nil
}

func (w *world) PublishExtract(_ context.Context, req job.ExtractRequest) error {
	w.mu.Lock()
	w.requests = append(w.requests, req)
	release := w.gate(req.Partition.Database)
	w.mu.Unlock()
	db := req.Partition.Database
	switch {
	case strings.HasPrefix(db, "silent"):
	case strings.HasPrefix(db, "flaky") && req.Attempt == 1:
		go w.send(job.TopicPartitionDone, job.PartitionDone{JobID: req.JobID, Partition: req.Partition.ID, Attempt: req.Attempt,
			Run: "run-1", OK: false, Retryable: true, Error: "connection reset by peer"})
	default:
		go func() {
			<-release
			w.answer(req)
		}()
	}
	return nil
}

// gate is the release channel of a database (closed at once unless held).
func (w *world) gate(db string) chan struct{} {
	ch, ok := w.held[db]
	if !ok {
		ch = make(chan struct{})
		if !strings.HasPrefix(db, "hold") && db != "preflight" {
			close(ch)
		}
		w.held[db] = ch
	}
	return ch
}

func (w *world) release(db string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.gate(db))
}

func (w *world) answer(req job.ExtractRequest) {
	run := fmt.Sprintf("run-%d", req.Attempt)
	pd := job.PartitionDone{JobID: req.JobID, Partition: req.Partition.ID, Attempt: req.Attempt, Run: run, OK: true,
		Rows: rowsOf, Queries: 4, Elapsed: job.Duration(time.Second),
		Files: []job.BatchReady{{JobID: req.JobID, Partition: req.Partition.ID, Run: run, Kind: model.KindTable,
			Key: job.StagingKey(req.JobID, req.Partition.ID, run, model.KindTable, 0)}}}
	w.send(job.TopicPartitionDone, pd)
	w.send(job.TopicPartitionDone, pd)
	pub := job.PublishDone{JobID: req.JobID, Partition: req.Partition.ID, Run: run, OK: true, Rows: rowsOf,
		Files: []model.FileInfo{{Name: job.UploadName(req.Partition.ID, model.KindTable, 0)}}}
	w.send(job.TopicPublishDone, pub)
	w.send(job.TopicPublishDone, pub)
}

func (w *world) send(topic string, v any) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.pub.Publish(ctx, topic, v); err != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.closed {
			w.sendErrs = append(w.sendErrs, fmt.Errorf("publish to %s: %w", topic, err))
		}
	}
}

// answerNow answers every extract request of the job at once, in the
// calling goroutine.
func (w *world) answerNow(jobID string) {
	for _, r := range w.requestList(jobID) {
		w.answer(r)
	}
}

func (w *world) Finalize(_ context.Context, req job.FinalizeRequest) (job.Finalized, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finalized = append(w.finalized, req)
	rows := map[model.Kind]int64{}
	for range req.Partitions {
		for k, n := range rowsOf {
			rows[k] += n
		}
	}
	return job.Finalized{Manifests: []job.ManifestRef{{Binding: "destination", Key: "jobs/" + req.JobID + "/manifest.json",
		Files: len(req.Partitions), Bytes: 100}}, Rows: rows}, nil
}

func (w *world) Cancel(_ context.Context, jobID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancels = append(w.cancels, jobID)
	return nil
}

func (w *world) Manifest(_ context.Context, jobID string) (json.RawMessage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.finalized {
		if f.JobID == jobID {
			return json.RawMessage(`{"job_id":"` + jobID + `"}`), nil
		}
	}
	return nil, errkind.New(errkind.NotFound, "GET /v1/jobs/"+jobID+"/manifest on publisher answered 404: no manifest for job "+jobID)
}

// requestsOf lists (partition, attempt) of the job's extract requests.
func (w *world) requestsOf(jobID string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, r := range w.requests {
		if r.JobID == jobID {
			out = append(out, fmt.Sprintf("%s#%d", r.Partition.ID, r.Attempt))
		}
	}
	return out
}

func (w *world) requestList(jobID string) []job.ExtractRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []job.ExtractRequest
	for _, r := range w.requests {
		if r.JobID == jobID {
			out = append(out, r)
		}
	}
	return out
}

func (w *world) cancelled() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.cancels...)
}

func (w *world) finalizedJobs() []job.FinalizeRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]job.FinalizeRequest(nil), w.finalized...)
}

func (w *world) Plan(_ context.Context, id string) (json.RawMessage, error) {
	return nil, errkind.New(errkind.NotFound, "GET /v1/jobs/"+id+"/plan on publisher answered 404: no plan")
}
