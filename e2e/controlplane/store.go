package controlplane

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// StoredFile is one ingested file of a job.
type StoredFile struct {
	SHA256 string    `json:"sha256"`
	Name   string    `json:"name"`
	Kind   string    `json:"kind"`
	Rows   int64     `json:"rows"`
	Bytes  int64     `json:"bytes"`
	Data   []byte    `json:"-"`
	At     time.Time `json:"at"`
	// Receipt is what the control plane answered for it: the agent
	// records it in its audit log as the acknowledgement.
	Receipt string `json:"receipt"`
}

// LogBatch is one stored log upload.
type LogBatch struct {
	Sequence     int       `json:"sequence"`
	DroppedLines int       `json:"dropped_lines"`
	Lines        []LogLine `json:"lines"`
}

// LogLine is the protocol's LogLine schema.
type LogLine struct {
	TS      time.Time      `json:"ts"`
	Level   string         `json:"level"`
	Service string         `json:"service,omitempty"`
	Msg     string         `json:"msg"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// Heartbeat is the protocol's Heartbeat schema.
type Heartbeat struct {
	AgentID     string               `json:"agent_id"`
	Version     string               `json:"version"`
	At          time.Time            `json:"at"`
	Status      string               `json:"status"`
	Apps        map[string]AppHealth `json:"apps,omitempty"`
	JobsRunning int                  `json:"jobs_running"`
	LastJob     *LastJob             `json:"last_job,omitempty"`
}

// AppHealth is one app in a Heartbeat.
type AppHealth struct {
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// LastJob is a Heartbeat's last finished job.
type LastJob struct {
	JobID      string    `json:"job_id"`
	State      string    `json:"state"`
	FinishedAt time.Time `json:"finished_at"`
}

type jobData struct {
	files    map[string]*StoredFile // by sha256
	manifest json.RawMessage
	logs     map[int]LogBatch
	// discarded counts files dropped because the manifest did not list them.
	discarded int
}

// jobStore holds what agents uploaded.
type jobStore struct {
	mu         sync.Mutex
	jobs       map[string]*jobData
	heartbeats []Heartbeat
}

func newJobStore() *jobStore { return &jobStore{jobs: map[string]*jobData{}} }

func (st *jobStore) jobLocked(id string) *jobData {
	d, ok := st.jobs[id]
	if !ok {
		d = &jobData{files: map[string]*StoredFile{}, logs: map[int]LogBatch{}}
		st.jobs[id] = d
	}
	return d
}

// Files lists a job's stored files by name (data included).
func (s *Server) Files(jobID string) []StoredFile {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	d, ok := s.store.jobs[jobID]
	if !ok {
		return nil
	}
	out := make([]StoredFile, 0, len(d.files))
	for _, f := range d.files {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Manifest answers a job's stored manifest, or nil.
func (s *Server) Manifest(jobID string) json.RawMessage {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	d, ok := s.store.jobs[jobID]
	if !ok || d.manifest == nil {
		return nil
	}
	return append(json.RawMessage(nil), d.manifest...)
}

// LogBatches lists a job's stored log batches in sequence order.
func (s *Server) LogBatches(jobID string) []LogBatch {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	d, ok := s.store.jobs[jobID]
	if !ok {
		return nil
	}
	out := make([]LogBatch, 0, len(d.logs))
	for _, b := range d.logs {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sequence < out[j].Sequence })
	return out
}

// Logs lists a job's log lines in batch order.
func (s *Server) Logs(jobID string) []LogLine {
	var out []LogLine
	for _, b := range s.LogBatches(jobID) {
		out = append(out, b.Lines...)
	}
	return out
}

// DroppedLines sums the dropped-lines counts the agent reported for a job.
func (s *Server) DroppedLines(jobID string) int {
	n := 0
	for _, b := range s.LogBatches(jobID) {
		n += b.DroppedLines
	}
	return n
}

// DiscardedFiles counts a job's files dropped when its manifest arrived
// without them (left by a run whose lease was lost).
func (s *Server) DiscardedFiles(jobID string) int {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if d, ok := s.store.jobs[jobID]; ok {
		return d.discarded
	}
	return 0
}

// Heartbeats lists every heartbeat received, oldest first.
func (s *Server) Heartbeats() []Heartbeat {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return append([]Heartbeat(nil), s.store.heartbeats...)
}
