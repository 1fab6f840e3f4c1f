package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// memObjects is an object store in memory: staging and output bindings
// alike. A missing object is errkind.NotFound, as in libs/objectstore.
type memObjects struct {
	mu    sync.Mutex
	objs  map[string][]byte
	reads int
}

func newMemObjects() *memObjects { return &memObjects{objs: map[string][]byte{}} }

func (m *memObjects) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = slices.Clone(data)
	return nil
}

func (m *memObjects) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	data, ok := m.objs[key]
	if !ok {
		return nil, errkind.New(errkind.NotFound, "no object "+key)
	}
	return slices.Clone(data), nil
}

func (m *memObjects) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

func (m *memObjects) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memObjects) snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.objs)
}

// memRecords keeps records as JSON, like the state store does, so a
// record that does not survive encoding fails here too.
type memRecords struct {
	mu   sync.Mutex
	recs map[string][]byte
}

func newMemRecords() *memRecords { return &memRecords{recs: map[string][]byte{}} }

func (m *memRecords) Get(_ context.Context, key string, v any) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.recs[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(data, v)
}

func (m *memRecords) Save(_ context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[key] = data
	return nil
}

// memVersioned keeps records with etags as the state store does: an etag
// per write, first-write on an empty etag, errkind.Conflict on a lost race.
type memVersioned struct {
	mu    sync.Mutex
	recs  map[string][]byte
	etags map[string]int
}

func newMemVersioned() *memVersioned {
	return &memVersioned{recs: map[string][]byte{}, etags: map[string]int{}}
}

func (m *memVersioned) Load(_ context.Context, key string, v any) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.recs[key]
	if !ok {
		return "", false, nil
	}
	return fmt.Sprint(m.etags[key]), true, json.Unmarshal(data, v)
}

func (m *memVersioned) Save(_ context.Context, key string, v any, etag string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, exists := m.recs[key]
	if (etag == "" && exists) || (etag != "" && etag != fmt.Sprint(m.etags[key])) {
		return errkind.New(errkind.Conflict, "etag mismatch for "+key)
	}
	m.recs[key] = data
	m.etags[key]++
	return nil
}

func (m *memVersioned) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, key)
	return nil
}

// memEvents keeps the PublishDone events sent.
type memEvents struct {
	mu   sync.Mutex
	done []job.PublishDone
}

func (m *memEvents) Publish(_ context.Context, topic string, v any) error {
	pd, ok := v.(job.PublishDone)
	if topic != job.TopicPublishDone || !ok {
		return fmt.Errorf("unexpected event %T on %s", v, topic)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = append(m.done, pd)
	return nil
}

func (m *memEvents) all() []job.PublishDone {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.done)
}

// world is what outlives a publisher process: staging, records and the
// destinations. Each newService is a fresh process over it.
type world struct {
	staging   *memObjects
	records   *memRecords
	versioned *memVersioned
	events    *memEvents
	dests     map[string]DestinationStore
	target    int64
}

func newWorld(target int64) *world {
	return &world{staging: newMemObjects(), records: newMemRecords(), versioned: newMemVersioned(), events: &memEvents{},
		dests: map[string]DestinationStore{}, target: target}
}

func (w *world) newService(t *testing.T) *Service {
	t.Helper()
	svc, err := New(Options{
		Staging: w.staging,
		Destinations: func(binding string) (DestinationStore, error) {
			if d, ok := w.dests[binding]; ok {
				return d, nil
			}
			if binding == job.DestinationControlPlane {
				return nil, errkind.New(errkind.Invalid, "the control-plane link is not configured: set CONTROLPLANE_URL and CONTROLPLANE_TOKEN_URL on the publisher")
			}
			return nil, fmt.Errorf("test has no destination %s", binding)
		},
		Records: w.records, Versioned: w.versioned, Events: w.events, CompactTargetBytes: w.target,
		Now: func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) },
	})
	require.NoError(t, err)
	return svc
}

// stageRun stages files of a run as the extractor does (model.FileSink):
// per staged file, tables tables of cols columns each, in batches of
// maxRows rows.
func (w *world) stageRun(t *testing.T, jobID, partition, run string, files, tables, cols, maxRows int) job.PartitionDone {
	t.Helper()
	ctx := context.Background()
	ev := job.PartitionDone{JobID: jobID, Partition: partition, Run: run, OK: true, Rows: map[model.Kind]int64{},
		Database: "shop", Schemas: []string{"sales"}}
	for seq := range files {
		dir := t.TempDir()
		sink, err := model.NewFileSink(dir)
		require.NoError(t, err)
		wr, err := model.NewWriter(sink, model.WriterOptions{JobID: jobID, MaxRows: maxRows,
			ExtractedAt: time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)})
		require.NoError(t, err)
		n := model.Names{Connection: "default/postgres/1", Database: "shop", Schema: "sales"}
		for i := range tables {
			tn := n
			tn.Table = fmt.Sprintf("t%d_%04d", seq, i)
			require.NoError(t, wr.Table(model.Table{QualifiedName: tn.TableQN(), ParentQualifiedName: n.SchemaQN(),
				Database: "shop", Schema: "sales", Name: tn.Table, Kind: model.TableKindTable}))
			for j := range cols {
				col := fmt.Sprintf("column_%04d", j)
				require.NoError(t, wr.Column(model.Column{QualifiedName: tn.ChildQN(col), ParentQualifiedName: tn.TableQN(),
					Database: "shop", Schema: "sales", Table: tn.Table, Name: col, Ordinal: int32(j + 1), DataType: "text",
					Comment: model.Ptr(fmt.Sprintf("comment %d of %s", j, tn.TableQN()))}))
			}
		}
		require.NoError(t, wr.Close())
		infos, err := sink.Close()
		require.NoError(t, err)
		for _, f := range infos {
			plain, err := os.ReadFile(filepath.Join(dir, f.Name))
			require.NoError(t, err)
			data, err := model.Frame(plain) // as the extractor stages it
			require.NoError(t, err)
			key := job.StagingKey(jobID, partition, run, f.Kind, seq)
			require.NoError(t, w.staging.Put(ctx, key, data))
			sum := sha256.Sum256(data)
			ev.Files = append(ev.Files, job.BatchReady{JobID: jobID, Partition: partition, Run: run, Kind: f.Kind, Seq: seq,
				Key: key, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Rows: f.Rows})
			ev.Rows[f.Kind] += f.Rows
		}
	}
	return ev
}

// ingestFake stands in for the control plane's ingest API behind the
// publisher's adapter: files kept by job and sha256, a file it has is not
// taken again, and a manifest listing a file it lacks is refused. failAt
// makes the nth ingest (1-based) fail with a transient error, before the
// file is stored or, with lostAnswer, after (the answer was lost).
type ingestFake struct {
	mu         sync.Mutex
	failAt     int
	lostAnswer bool
	refuse     error // answered to every ingest when set
	attempts   int
	files      map[string]map[string]model.FileInfo // job -> sha256 -> file
	ingested   map[string]int                       // job/sha256 -> times stored
	log        []string                             // "file <name>" and "manifest" in order of success
	manifests  map[string][]byte
}

func newIngestFake() *ingestFake {
	return &ingestFake{files: map[string]map[string]model.FileInfo{}, ingested: map[string]int{}, manifests: map[string][]byte{}}
}

func (f *ingestFake) PutJobFile(_ context.Context, jobID string, info model.FileInfo, _ []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.files[jobID][info.SHA256]; ok {
		return "", nil
	}
	if f.refuse != nil {
		return "", f.refuse
	}
	f.attempts++
	failing := f.attempts == f.failAt
	if failing && !f.lostAnswer {
		return "", errkind.New(errkind.Transient, "control plane answered 503")
	}
	if f.files[jobID] == nil {
		f.files[jobID] = map[string]model.FileInfo{}
	}
	f.files[jobID][info.SHA256] = info
	f.ingested[jobID+"/"+info.SHA256]++
	f.log = append(f.log, "file "+info.Name)
	if failing {
		return "", errkind.New(errkind.Transient, "connection reset before the answer")
	}
	return "rcpt-" + info.SHA256[:8], nil
}

func (f *ingestFake) PutJobManifest(_ context.Context, jobID string, manifest []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m model.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return errkind.Wrap(errkind.Invalid, err, "manifest")
	}
	for _, file := range m.Files {
		if _, ok := f.files[jobID][file.SHA256]; !ok {
			return errkind.New(errkind.Conflict, "upload "+file.Name+" before the manifest")
		}
	}
	f.manifests[jobID] = slices.Clone(manifest)
	f.log = append(f.log, "manifest")
	return nil
}

func (f *ingestFake) Put(context.Context, string, []byte) error {
	return fmt.Errorf("the control plane takes no object keys")
}

func (f *ingestFake) Get(_ context.Context, key string) ([]byte, error) {
	return nil, errkind.New(errkind.NotFound, key+" cannot be read back")
}
