package app

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// Phases shown in job.Status.Phase while a job runs.
const (
	PhasePreflight = "preflight"
	PhaseQueued    = "queued" // waiting for a slot of its connection
	PhaseExtract   = "extract"
	PhaseFinalize  = "finalize"
	PhaseCleanup   = "cleanup" // releasing the slot, telling the publisher to cancel
)

// WorkflowInput is what JobWorkflow starts from.
type WorkflowInput struct {
	JobID       string    `json:"job_id"`
	Spec        job.Spec  `json:"spec"`
	SubmittedAt time.Time `json:"submitted_at"`
	// TraceParent is the span that submitted the job (W3C traceparent).
	TraceParent string `json:"traceparent,omitempty"`
}

// Launch is one extract request the workflow must publish.
type Launch struct {
	Partition job.Partition
	Attempt   int
}

// Effect says what an event did to the job.
type Effect int

const (
	Ignored    Effect = iota // stale, duplicate or unknown
	Progressed               // a partition moved forward
	Retried                  // a partition attempt is given up; another follows
	Ended                    // the job is now failing or cancelled
)

func (e Effect) String() string {
	return [...]string{"ignored", "progressed", "retried", "ended"}[e]
}

// Machine is the decision logic of one job, free of any engine: the
// workflow feeds it results and events with the workflow's clock, and does
// what it asks (publish requests, arm alarms). Everything it does is
// deterministic, so replaying the same inputs rebuilds the same state.
type Machine struct {
	spec    job.Spec
	st      job.Status
	parts   []part
	byID    map[string]int // lookups only: never ranged over (order would vary)
	outcome job.State      // "" while undecided; Failed/Cancelled once decided; Succeeded after finalize
	alarms  []Alarm
	rows    map[model.Kind]int64 // authoritative totals from Finalized, when given
	listing *changeset.Listing   // what the source showed, for the publisher's deletions
}

type part struct {
	job.PartitionStatus
	deadline time.Time
	queries  int
}

// NewMachine starts a job at now.
func NewMachine(in WorkflowInput, now time.Time) *Machine {
	started := now
	return &Machine{
		spec: in.Spec,
		byID: map[string]int{},
		st: job.Status{
			ID: in.JobID, Name: in.Spec.Name, Connection: in.Spec.Connection, SourceKind: in.Spec.Source.Kind,
			State: job.Running, Phase: PhasePreflight, SubmittedAt: in.SubmittedAt, StartedAt: &started,
		},
	}
}

// StartedAt is the job's start, written into every extracted row.
func (m *Machine) StartedAt() time.Time { return *m.st.StartedAt }

// SetPhase changes the phase shown in the status.
func (m *Machine) SetPhase(p string) { m.st.Phase = p }

// Planned takes the preflight's answer: the partitions to extract, or the
// failed checks that end the job. It reports whether the job goes on.
func (m *Machine) Planned(pf job.Preflight) bool {
	if m.Ending() {
		return false
	}
	m.st.Warnings = warnedChecks(pf.Checks)
	m.listing = pf.Listing
	if !pf.OK {
		lines := failedChecks(pf.Checks)
		m.st.Errors = append(m.st.Errors, lines...)
		m.outcome = job.Failed
		return false
	}
	for _, p := range pf.Partitions {
		if p.ID == "" {
			m.Fail("preflight returned a partition without an id; this is a bug in the extractor, report it")
			return false
		}
		if _, dup := m.byID[p.ID]; dup {
			m.Fail(fmt.Sprintf("preflight returned partition %s twice; this is a bug in the extractor, report it", p.ID))
			return false
		}
		m.byID[p.ID] = len(m.parts)
		m.parts = append(m.parts, part{PartitionStatus: job.PartitionStatus{Partition: p, State: job.Pending}})
	}
	return true
}

// failedChecks turns the failed checks into one line each, with what to do.
func failedChecks(checks []job.Check) []string {
	var out []string
	for _, c := range checks {
		if c.Status != "fail" {
			continue
		}
		line := "preflight check " + c.Name + " failed: " + c.Detail
		if c.Remediation != "" {
			line += " — " + c.Remediation
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		out = append(out, "preflight did not pass (no check says why; see the extractor's log)")
	}
	return out
}

// warnedChecks turns the checks that warned into one line each, with what
// to do.
func warnedChecks(checks []job.Check) []string {
	var out []string
	for _, c := range checks {
		if c.Status != "warn" {
			continue
		}
		line := "preflight check " + c.Name + ": " + c.Detail
		if c.Remediation != "" {
			line += " — " + c.Remediation
		}
		out = append(out, line)
	}
	return out
}

// Fail ends the job as failed with msg, unless its outcome is decided.
func (m *Machine) Fail(msg string) {
	if m.outcome != "" {
		return
	}
	m.outcome = job.Failed
	m.st.Errors = append(m.st.Errors, msg)
}

// Note records a problem that does not change the outcome (a cleanup
// step that failed, for example).
func (m *Machine) Note(msg string) { m.st.Errors = append(m.st.Errors, msg) }

// Cancel ends the job as cancelled, unless its outcome is decided.
func (m *Machine) Cancel() {
	if m.outcome == "" {
		m.outcome = job.Cancelled
	}
}

// Ending reports whether the job failed or was cancelled (cleanup may
// still be running).
func (m *Machine) Ending() bool { return m.outcome == job.Failed || m.outcome == job.Cancelled }

// Outcome is the decided end state, or "" while undecided.
func (m *Machine) Outcome() job.State { return m.outcome }

// Done reports whether the extract phase is over: every partition
// published, or the job ending.
func (m *Machine) Done() bool { return m.Ending() || m.AllSucceeded() }

// AllSucceeded reports whether every partition is published and the job is
// not ending.
func (m *Machine) AllSucceeded() bool {
	if m.Ending() {
		return false
	}
	for i := range m.parts {
		if m.parts[i].State != job.Succeeded {
			return false
		}
	}
	return true
}

// InFlight counts the partitions requested and not yet published or given
// up: extracting, or extracted and waiting for the publisher.
func (m *Machine) InFlight() int {
	n := 0
	for i := range m.parts {
		if st := m.parts[i].State; st == job.Extracting || st == job.Extracted {
			n++
		}
	}
	return n
}

// Launch picks the partitions to request now, in plan order, keeping at
// most max_parallel extracting, and arms their deadlines.
func (m *Machine) Launch(now time.Time) []Launch {
	if m.outcome != "" {
		return nil
	}
	running := 0
	for i := range m.parts {
		if m.parts[i].State == job.Extracting {
			running++
		}
	}
	var out []Launch
	for i := range m.parts {
		if running >= m.spec.Partitioning.MaxParallel {
			break
		}
		p := &m.parts[i]
		if p.State != job.Pending {
			continue
		}
		p.Attempts++
		p.State = job.Extracting
		p.Rows = nil
		m.arm(p, now)
		running++
		out = append(out, Launch{Partition: p.Partition, Attempt: p.Attempts})
	}
	return out
}

func (m *Machine) arm(p *part, now time.Time) {
	p.deadline = now.Add(m.spec.Partitioning.Timeout.D())
	m.alarms = append(m.alarms, Alarm{Partition: p.ID, Attempt: p.Attempts, At: p.deadline})
}

// TakeAlarms returns the deadlines armed since the last call.
func (m *Machine) TakeAlarms() []Alarm {
	a := m.alarms
	m.alarms = nil
	return a
}

// Handle applies one event received at now.
func (m *Machine) Handle(ev Event, now time.Time) Effect {
	if m.outcome != "" {
		return Ignored
	}
	switch ev.Type {
	case EventCancel:
		m.Cancel()
		return Ended
	case EventPartitionDone:
		var pd job.PartitionDone
		if json.Unmarshal(ev.Payload, &pd) != nil {
			return Ignored
		}
		return m.partitionDone(pd, now)
	case EventPublishDone:
		var pd job.PublishDone
		if json.Unmarshal(ev.Payload, &pd) != nil {
			return Ignored
		}
		return m.publishDone(pd)
	case EventDeadline:
		var a Alarm
		if json.Unmarshal(ev.Payload, &a) != nil {
			return Ignored
		}
		return m.deadline(a, now)
	default:
		return Ignored
	}
}

func (m *Machine) find(id string) *part {
	i, ok := m.byID[id]
	if !ok {
		return nil
	}
	return &m.parts[i]
}

func (m *Machine) partitionDone(pd job.PartitionDone, now time.Time) Effect {
	p := m.find(pd.Partition)
	// Only the answer to the attempt in flight counts: older attempts were
	// given up, and a repeated answer changes nothing.
	if p == nil || p.State != job.Extracting || pd.Attempt != p.Attempts {
		return Ignored
	}
	if pd.OK {
		p.State = job.Extracted
		p.Rows = maps.Clone(pd.Rows)
		p.queries = pd.Queries
		p.Error = ""
		// The publisher gets a full window of its own to verify and upload.
		m.arm(p, now)
		return Progressed
	}
	why := strings.TrimSpace(pd.Error)
	if why == "" {
		why = "the extractor reported a failure without a reason"
	}
	if pd.Retryable {
		return m.retry(p, why)
	}
	return m.failPartition(p, why)
}

func (m *Machine) publishDone(pd job.PublishDone) Effect {
	p := m.find(pd.Partition)
	// The first run the publisher completes wins, whichever attempt it
	// came from; a partition never requested cannot have been published.
	if p == nil || p.State.Terminal() || p.Attempts == 0 {
		return Ignored
	}
	if pd.OK {
		p.State = job.Succeeded
		if len(pd.Rows) > 0 {
			p.Rows = maps.Clone(pd.Rows)
		}
		p.Error = ""
		return Progressed
	}
	why := strings.TrimSpace(pd.Error)
	if why == "" {
		why = "no reason given"
	}
	return m.failPartition(p, "publishing failed: "+why)
}

func (m *Machine) deadline(a Alarm, now time.Time) Effect {
	p := m.find(a.Partition)
	if p == nil || a.Attempt != p.Attempts || !a.At.Equal(p.deadline) {
		return Ignored
	}
	timeout := m.spec.Partitioning.Timeout.D()
	switch p.State {
	case job.Extracting:
		return m.retry(p, fmt.Sprintf("the extractor did not answer within %s", timeout))
	case job.Extracted:
		return m.retry(p, fmt.Sprintf("the publisher did not answer within %s of the extraction", timeout))
	default:
		return Ignored
	}
}

// retry gives up the current attempt and queues another, or fails the job
// when the attempts are used up.
func (m *Machine) retry(p *part, why string) Effect {
	if p.Attempts < 1+m.spec.Partitioning.Retries {
		p.State = job.Pending
		p.Rows = nil
		p.Error = fmt.Sprintf("attempt %d: %s; retrying", p.Attempts, why)
		return Retried
	}
	return m.failPartition(p, fmt.Sprintf("%s (gave up after %d attempts)", why, p.Attempts))
}

func (m *Machine) failPartition(p *part, why string) Effect {
	p.State = job.Failed
	p.Error = why
	m.Fail(fmt.Sprintf("partition %s (database %s): %s", p.ID, p.Database, why))
	return Ended
}

// FinalizeRequest asks the publisher for the manifest of every partition.
func (m *Machine) FinalizeRequest() job.FinalizeRequest {
	req := job.FinalizeRequest{JobID: m.st.ID, Spec: m.spec, Partitions: []string{}, StartedAt: m.StartedAt(), Listing: m.listing}
	for i := range m.parts {
		req.Partitions = append(req.Partitions, m.parts[i].ID)
		req.Queries += m.parts[i].queries
	}
	return req
}

// Finalized records the manifest; the job has succeeded.
func (m *Machine) Finalized(f job.Finalized) {
	if m.outcome != "" {
		return
	}
	m.outcome = job.Succeeded
	if len(f.Manifests) > 0 {
		ref := f.Manifests[0]
		m.st.Manifest = &ref
	}
	if f.Mode != "" {
		// The rows shipped are only what changed: the status keeps the
		// rows extracted, and says what changed.
		m.st.Mode, m.st.Changes, m.st.DryRun = f.Mode, f.Changes, f.DryRun
		m.st.Warnings = append(m.st.Warnings, f.Warnings...)
		return
	}
	if len(f.Rows) > 0 {
		m.rows = maps.Clone(f.Rows)
	}
}

// Finish makes the decided outcome the job's state at now; partitions
// still open are cancelled.
func (m *Machine) Finish(now time.Time) {
	if m.outcome == "" {
		m.Fail("the job ended without an outcome; this is a bug in the orchestrator, report it")
	}
	m.st.State = m.outcome
	m.st.Phase = ""
	finished := now
	m.st.FinishedAt = &finished
	for i := range m.parts {
		if !m.parts[i].State.Terminal() {
			m.parts[i].State = job.Cancelled
		}
	}
}

// Status is the job's status as GET /v1/jobs/{id} shows it.
func (m *Machine) Status() job.Status {
	st := m.st
	st.Errors = append([]string(nil), m.st.Errors...)
	st.Warnings = append([]string(nil), m.st.Warnings...)
	st.Partitions = make([]job.PartitionStatus, 0, len(m.parts))
	total := map[model.Kind]int64{}
	for i := range m.parts {
		ps := m.parts[i].PartitionStatus
		ps.Rows = maps.Clone(ps.Rows)
		st.Partitions = append(st.Partitions, ps)
		for k, n := range ps.Rows { // a sum: order does not matter
			total[k] += n
		}
	}
	if m.rows != nil {
		total = maps.Clone(m.rows)
	}
	if len(total) > 0 {
		st.Rows = total
	}
	for _, n := range total {
		st.Assets += n
	}
	return st
}

// StatusJSON is Status encoded for the workflow's custom status (map keys
// are sorted by encoding/json, so the text is deterministic).
func (m *Machine) StatusJSON() string {
	b, err := json.Marshal(m.Status())
	if err != nil {
		return `{"error":"status could not be encoded"}`
	}
	return string(b)
}
