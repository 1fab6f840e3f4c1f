package app

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// fakeConnector writes one database row per extraction. When gate is set,
// Extract announces itself on entered and waits for gate to close.
type fakeConnector struct {
	checks  []connector.Check
	entered chan string // receives the database of each Extract
	gate    chan struct{}
	src     connector.Source

	mu       *sync.Mutex
	running  *int
	maxFound *int
}

func (c *fakeConnector) Preflight(context.Context) []connector.Check { return c.checks }

func (c *fakeConnector) Extract(ctx context.Context, w *model.Writer) (connector.Stats, error) {
	if c.mu != nil {
		c.mu.Lock()
		*c.running++
		*c.maxFound = max(*c.maxFound, *c.running)
		c.mu.Unlock()
		defer func() { c.mu.Lock(); *c.running--; c.mu.Unlock() }()
	}
	db := "db"
	if len(c.src.Databases) > 0 {
		db = c.src.Databases[0]
	}
	if c.entered != nil {
		c.entered <- db
	}
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return connector.Stats{}, ctx.Err()
		}
	}
	err := w.Database(model.Database{QualifiedName: "conn/" + db, ParentQualifiedName: "conn", Name: db})
	return connector.Stats{Queries: 3}, err
}

func (c *fakeConnector) Close() error { return nil }

// plannedConnector adds a plan.
type plannedConnector struct {
	*fakeConnector
	plan []connector.DatabasePlan
}

func (c plannedConnector) Plan(context.Context) ([]connector.DatabasePlan, error) { return c.plan, nil }

// listedConnector adds a listing, or its error.
type listedConnector struct {
	*fakeConnector
	listing changeset.Listing
	err     error
}

func (c listedConnector) Listing(context.Context) (changeset.Listing, error) { return c.listing, c.err }

// fakeOpener opens fresh copies of a template connector and counts opens.
type fakeOpener struct {
	mu      sync.Mutex
	opens   int
	err     error
	make    func(src connector.Source) connector.Connector
	sources []connector.Source
}

func (o *fakeOpener) Open(_ context.Context, src connector.Source, _ connector.Credentials) (connector.Connector, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opens++
	o.sources = append(o.sources, src)
	if o.err != nil {
		return nil, o.err
	}
	return o.make(src), nil
}

func (o *fakeOpener) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opens
}

type noCreds struct{}

func (noCreds) For(*job.SecretRef) (connector.Credentials, error) {
	return connector.NoCredentials{}, nil
}

// memStore is an in-memory ObjectPutter.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func (m *memStore) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects == nil {
		m.objects = map[string][]byte{}
	}
	m.objects[key] = append([]byte(nil), data...)
	return nil
}

func (m *memStore) len() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.objects) }

// memEvents records published events as JSON.
type memEvents struct {
	mu     sync.Mutex
	events map[string][]json.RawMessage
}

func (m *memEvents) Publish(_ context.Context, topic string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events == nil {
		m.events = map[string][]json.RawMessage{}
	}
	m.events[topic] = append(m.events[topic], b)
	return nil
}

func (m *memEvents) dones() []job.PartitionDone {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []job.PartitionDone
	for _, raw := range m.events[job.TopicPartitionDone] {
		var d job.PartitionDone
		if json.Unmarshal(raw, &d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// memRecords is an in-memory RecordStore.
type memRecords struct {
	mu      sync.Mutex
	records map[string]Record
	failGet error
}

func (m *memRecords) LoadRecord(_ context.Context, key string) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failGet != nil {
		return Record{}, false, m.failGet
	}
	r, ok := m.records[key]
	return r, ok, nil
}

func (m *memRecords) SaveRecord(_ context.Context, key string, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records == nil {
		m.records = map[string]Record{}
	}
	m.records[key] = r
	return nil
}

var errBoom = errors.New("boom")

// wireOf is a check as preflight answers it.
func wireOf(c connector.Check) job.Check {
	return job.Check{Name: c.Name, Status: string(c.Status), Detail: c.Detail, Remediation: c.Remediation}
}
