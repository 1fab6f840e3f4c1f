package app

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/job"
)

// backlog is what secure_agent_publisher_backlog_batches reports: the
// batches this process verified whose partition has not been published,
// failed or cancelled since. A batch counts once however often its
// batch-ready is redelivered (it is keyed by run, kind and seq), and a
// partition's end drops the batches of every run of it, the losing runs
// of a redelivered extraction too. A failed run drops its own batches:
// they will never be published; a new run announces its own.
//
// It lives in memory, as the publisher runs as one replica (ADR 0007):
// after a restart it starts at 0 and counts only batches verified since,
// so it under-counts until the partitions of the jobs in flight end.
// Finalize and cancel (which the orchestrator sends for every job that
// does not succeed) drop whatever is left of their job, so a batch whose
// batch-ready raced its partition's publish is held no longer than its job.
type backlog struct {
	mu    sync.Mutex
	parts map[partitionRef]map[string]map[string]struct{} // run -> kind/seq
	n     int
	gauge prometheus.Gauge
}

type partitionRef struct{ job, partition string }

func newBacklog(g prometheus.Gauge) *backlog {
	return &backlog{parts: map[partitionRef]map[string]map[string]struct{}{}, gauge: g}
}

// add counts a verified batch.
func (l *backlog) add(b job.BatchReady) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref := partitionRef{b.JobID, b.Partition}
	runs, ok := l.parts[ref]
	if !ok {
		runs = map[string]map[string]struct{}{}
		l.parts[ref] = runs
	}
	batches, ok := runs[b.Run]
	if !ok {
		batches = map[string]struct{}{}
		runs[b.Run] = batches
	}
	id := string(b.Kind) + "/" + strconv.Itoa(b.Seq)
	if _, seen := batches[id]; seen {
		return
	}
	batches[id] = struct{}{}
	l.set(l.n + 1)
}

// partitionEnded drops every batch of the partition: it is published,
// failed or cancelled.
func (l *backlog) partitionEnded(jobID, partition string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop(partitionRef{jobID, partition})
}

// runFailed drops the batches of one failed run of a partition.
func (l *backlog) runFailed(jobID, partition, run string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref := partitionRef{jobID, partition}
	runs := l.parts[ref]
	n := l.n - len(runs[run])
	delete(runs, run)
	if len(runs) == 0 {
		delete(l.parts, ref)
	}
	l.set(n)
}

// jobEnded drops every batch of the job: it is finalized or cancelled.
func (l *backlog) jobEnded(jobID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ref := range l.parts {
		if ref.job == jobID {
			l.drop(ref)
		}
	}
}

func (l *backlog) drop(ref partitionRef) {
	n := l.n
	for _, batches := range l.parts[ref] {
		n -= len(batches)
	}
	delete(l.parts, ref)
	l.set(n)
}

func (l *backlog) set(n int) {
	l.n = n
	l.gauge.Set(float64(n))
}
