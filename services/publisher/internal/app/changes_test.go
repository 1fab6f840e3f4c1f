package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

const testConn = "default/postgres/1"

// changesWorld runs whole jobs of one connection through a publisher: one
// partition of tables tables (t0_0000, ...) with 3 columns each.
type changesWorld struct {
	*world
	dest *memObjects
	// spill, when set, is the publisher's digest spill.
	spill int
}

func newChangesWorld() *changesWorld {
	w := &changesWorld{world: newWorld(1 << 20), dest: newMemObjects()}
	w.dests = map[string]DestinationStore{job.DefaultDestination: w.dest}
	return w
}

func (w *changesWorld) run(t *testing.T, id string, tables int, spec job.Spec) (job.Finalized, model.Manifest) {
	t.Helper()
	ctx := context.Background()
	spec.Connection = testConn
	spec.Normalize()
	ev := w.stageRun(t, id, "p000", "run-1", 1, tables, 3, 1000)
	ev.Connection, ev.Mode, ev.DryRun = spec.Connection, spec.Mode, spec.DryRun
	svc := w.newService(t)
	if w.spill > 0 {
		svc.digestSpill = w.spill
	}
	require.NoError(t, svc.PublishPartition(ctx, ev))
	listing := &changeset.Listing{Databases: map[string]changeset.DatabaseState{"shop": {Readable: true, TablesComplete: true}},
		ListsAllDatabases: true}
	out, err := svc.Finalize(ctx, id, job.FinalizeRequest{JobID: id, Spec: spec, Partitions: []string{"p000"}, Listing: listing})
	require.NoError(t, err)
	var m model.Manifest
	if data, err := w.dest.Get(ctx, "jobs/"+id+"/manifest.json"); err == nil {
		require.NoError(t, json.Unmarshal(data, &m))
	}
	return out, m
}

// files lists the job's uploaded asset and tombstone files.
func (w *changesWorld) files(id string) []string {
	var out []string
	for k := range w.dest.snapshot() {
		if strings.HasPrefix(k, "jobs/"+id+"/") && strings.HasSuffix(k, ".arrows") {
			out = append(out, strings.TrimPrefix(k, "jobs/"+id+"/"))
		}
	}
	return out
}

func TestIncrementalRuns(t *testing.T) {
	w := newChangesWorld()
	ctx := context.Background()

	// First run: everything is created, and shipped whatever the mode.
	out, m := w.run(t, "job-1", 10, job.Spec{})
	require.Equal(t, model.ModeFull, m.Mode)
	require.Empty(t, m.Base)
	require.EqualValues(t, 10, m.Changes[model.KindTable].Created)
	require.EqualValues(t, 30, m.Changes[model.KindColumn].Created)
	require.EqualValues(t, 10, m.Rows[model.KindTable])
	require.Contains(t, out.Warnings[0], "first run")

	// No change: nothing but the manifest ships.
	_, m = w.run(t, "job-2", 10, job.Spec{})
	require.Equal(t, model.ModeIncremental, m.Mode)
	require.Equal(t, "job-1", m.Base)
	require.EqualValues(t, 10, m.Changes[model.KindTable].Unchanged)
	require.Empty(t, m.Files)
	require.Empty(t, w.files("job-2"))
	// Publish-done counts the assets read, not the (no) assets shipped, so
	// the job's status says how big the catalog is.
	done := w.events.all()
	last := done[len(done)-1]
	require.Equal(t, "job-2", last.JobID)
	require.EqualValues(t, 10, last.Rows[model.KindTable])
	require.Empty(t, last.Files)

	// Mode full ships everything again, and changes nothing.
	_, m = w.run(t, "job-3", 10, job.Spec{Mode: model.ModeFull})
	require.Equal(t, model.ModeFull, m.Mode)
	require.EqualValues(t, 10, m.Rows[model.KindTable])
	require.EqualValues(t, 10, m.Changes[model.KindTable].Unchanged)

	// One table dropped: a tombstone for it and its columns, nothing else.
	out, m = w.run(t, "job-4", 9, job.Spec{})
	require.Equal(t, "job-3", m.Base)
	require.EqualValues(t, 1, m.Changes[model.KindTable].Deleted)
	require.EqualValues(t, 3, m.Changes[model.KindColumn].Deleted)
	require.EqualValues(t, 4, m.Rows[model.KindTombstone])
	require.Equal(t, []string{"deletions/tombstone-000.arrows"}, w.files("job-4"))
	require.Empty(t, out.FailSafes)
	data, err := w.dest.Get(ctx, "jobs/job-4/deletions/tombstone-000.arrows")
	require.NoError(t, err)
	var dropped []string
	_, err = model.ReadStream(strings.NewReader(string(data)), int64(len(data)), func(_ model.Kind, rec arrow.Record) error {
		for i := range int(rec.NumRows()) {
			dropped = append(dropped, rec.Column(0).ValueStr(i)+" "+rec.Column(5).ValueStr(i))
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, dropped, testConn+"/shop/sales/t0_0009 dropped")

	// A dry run of dropping five more: the plan says so, nothing ships
	// and the state stays.
	out, m = w.run(t, "job-5", 4, job.Spec{DryRun: true, MaxDeletionShare: 1})
	require.True(t, out.DryRun)
	require.Empty(t, m.JobID, "no manifest")
	require.Empty(t, w.files("job-5"))
	plan, err := w.newService(t).Plan(ctx, "job-5")
	require.NoError(t, err)
	require.Equal(t, "job-4", plan.Base)
	require.EqualValues(t, 5, plan.Changes[model.KindTable].Deleted)
	require.Len(t, plan.Items, 20)
	require.Equal(t, job.PlanItem{Op: "deleted", Kind: model.KindTable, QualifiedName: testConn + "/shop/sales/t0_0004", Reason: "dropped"},
		plan.Items[0])

	// The same drop for real: above the default share, so withheld.
	out, m = w.run(t, "job-6", 4, job.Spec{})
	require.Equal(t, "job-4", m.Base, "the dry run did not replace the state")
	require.Len(t, m.FailSafes, 1)
	require.Equal(t, changeset.FailSafeThreshold, m.FailSafes[0].Name)
	require.EqualValues(t, 5, m.Changes[model.KindTable].Withheld)
	require.Zero(t, m.Changes[model.KindTable].Deleted)
	require.Contains(t, out.Warnings[0], "fail-safe threshold")
	require.Empty(t, w.files("job-6"))

	// Allowed by the job: deleted now (the withheld assets were kept).
	_, m = w.run(t, "job-7", 4, job.Spec{MaxDeletionShare: 0.6})
	require.Equal(t, "job-6", m.Base)
	require.EqualValues(t, 5, m.Changes[model.KindTable].Deleted)
}

func TestAConcurrentRunOfTheConnectionIsRefused(t *testing.T) {
	w := newChangesWorld()
	ctx := context.Background()
	w.run(t, "job-1", 3, job.Spec{})
	// job-2 pins job-1's state, then job-3 finishes first.
	ev := w.stageRun(t, "job-2", "p000", "run-1", 1, 3, 3, 1000)
	ev.Connection = testConn
	require.NoError(t, w.newService(t).PublishPartition(ctx, ev))
	w.run(t, "job-3", 2, job.Spec{})
	spec := job.Spec{Connection: testConn}
	spec.Normalize()
	_, err := w.newService(t).Finalize(ctx, "job-2", job.FinalizeRequest{JobID: "job-2", Spec: spec, Partitions: []string{"p000"}})
	require.ErrorContains(t, err, "job job-3 of connection "+testConn+" finished while job job-2 ran")
}

func TestAnAlteredCatalogStateIsNotUsed(t *testing.T) {
	w := newChangesWorld()
	ctx := context.Background()
	w.run(t, "job-1", 3, job.Spec{})
	var st CatalogState
	_, ok, err := w.versioned.Load(ctx, catalogStateKey(testConn), &st)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, w.staging.Put(ctx, st.Key, []byte("tampered")))
	out, m := w.run(t, "job-2", 2, job.Spec{})
	require.Equal(t, model.ModeFull, m.Mode)
	require.Empty(t, m.Base)
	require.Zero(t, m.Rows[model.KindTombstone], "nothing is deleted without a state to compare with")
	require.Contains(t, fmt.Sprint(out.Warnings), "cannot be used")
}

// stateFiles lists the catalog-state files in staging.
func (w *changesWorld) stateFiles() []string {
	var out []string
	for k := range w.staging.snapshot() {
		if strings.HasPrefix(k, "catalog-state/") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestTheCatalogStateIsARunOfChunks(t *testing.T) {
	w := newChangesWorld()
	w.spill = 5000 // each partition's digests in 5 runs
	ctx := context.Background()
	// 6,000 tables of 3 columns: 24,000 assets, two chunks.
	w.run(t, "job-1", 6000, job.Spec{})
	var rec PublishRecord
	ok, err := w.records.Get(ctx, publishKey("job-1", "p000"), &rec)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, rec.Digests.Runs, 5)
	require.Equal(t, 24000, rec.Digests.Entries)
	var st CatalogState
	_, ok, err = w.versioned.Load(ctx, catalogStateKey(testConn), &st)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, st.Chunked)
	require.Equal(t, 24000, st.Entries)
	first := w.stateFiles()
	require.Len(t, first, 3, "two chunks and the index")

	// One table changed name: only it ships, and the old state's files are
	// deleted once the new one is the connection's.
	_, m := w.run(t, "job-2", 5999, job.Spec{})
	require.Equal(t, "job-1", m.Base)
	require.EqualValues(t, 5999, m.Changes[model.KindTable].Unchanged)
	require.EqualValues(t, 1, m.Changes[model.KindTable].Deleted)
	second := w.stateFiles()
	require.Len(t, second, 3)
	for _, k := range first {
		require.NotContains(t, second, k)
	}

	// A chunk altered in staging: the next run finds it before it pins the
	// state, ships everything and deletes nothing.
	data, err := w.staging.Get(ctx, second[0])
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, w.staging.Put(ctx, second[0], data))
	out, m := w.run(t, "job-3", 5000, job.Spec{})
	require.Equal(t, model.ModeFull, m.Mode)
	require.Zero(t, m.Rows[model.KindTombstone])
	require.Contains(t, fmt.Sprint(out.Warnings), "changed or corrupted")
}

func TestAStateKeptInOneFileBeforeRunsIsStillTheBase(t *testing.T) {
	w := newChangesWorld()
	ctx := context.Background()
	w.run(t, "job-1", 10, job.Spec{})
	// Rewrite job-1's state the way an older publisher kept it: one
	// snapshot file, its pointer not chunked.
	var st CatalogState
	_, ok, err := w.versioned.Load(ctx, catalogStateKey(testConn), &st)
	require.NoError(t, err)
	require.True(t, ok)
	x, err := changeset.LoadIndex(ctx, w.staging, changeset.RunRef{Key: st.Key, SHA256: st.SHA256, Entries: st.Entries})
	require.NoError(t, err)
	var entries []changeset.Entry
	r := changeset.NewRunReader(ctx, w.staging, x)
	for {
		e, ok, err := r.Next()
		require.NoError(t, err)
		if !ok {
			break
		}
		entries = append(entries, e)
	}
	snap, err := changeset.NewSnapshot(x.Meta(), entries)
	require.NoError(t, err)
	data, err := snap.Encode()
	require.NoError(t, err)
	old := CatalogState{JobID: "job-1", Key: "catalog-state/old/job-1.arrows", SHA256: shaOf(data), Entries: len(entries), At: st.At}
	require.NoError(t, w.staging.Put(ctx, old.Key, data))
	etag, _, err := w.versioned.Load(ctx, catalogStateKey(testConn), &st)
	require.NoError(t, err)
	require.NoError(t, w.versioned.Save(ctx, catalogStateKey(testConn), old, etag))

	_, m := w.run(t, "job-2", 9, job.Spec{})
	require.Equal(t, model.ModeIncremental, m.Mode)
	require.Equal(t, "job-1", m.Base)
	require.EqualValues(t, 9, m.Changes[model.KindTable].Unchanged)
	require.EqualValues(t, 1, m.Changes[model.KindTable].Deleted)
	_, err = w.staging.Get(ctx, old.Key)
	require.Error(t, err, "the old file is deleted once replaced")
}

// A partition reads the digests of exactly its part of the state: its
// schema's tables in its range (names with '/' and '%' included), and the
// schema's routines and row in the first range only.
func TestPartitionBaseHoldsItsRangeOnly(t *testing.T) {
	w := newChangesWorld()
	ctx := context.Background()
	svc := w.newService(t)
	tables := []string{"a", "a%b", "a/b", "a.b", "a-b", "b", "m", "m/", "m/z", "m0", "n%", "zz", "Ü"}
	var entries []changeset.Entry
	add := func(k model.Kind, qn string) {
		e := changeset.Entry{Kind: k, QualifiedName: qn}
		copy(e.Digest[:], string(k)+qn)
		entries = append(entries, e)
	}
	for _, schema := range []string{"sales", "sales2"} {
		n := model.Names{Connection: testConn, Database: "shop", Schema: schema}
		add(model.KindSchema, n.SchemaQN())
		add(model.KindRoutine, n.RoutineQN("f", ""))
		add(model.KindRoutine, n.RoutineQN("zzz", "int"))
		for _, tb := range tables {
			n.Table = tb
			add(model.KindTable, n.TableQN())
			add(model.KindColumn, n.ChildQN("c/1"))
		}
	}
	add(model.KindDatabase, model.Names{Connection: testConn, Database: "shop"}.DatabaseQN())
	slices.SortFunc(entries, changeset.Compare)
	wr := changeset.NewRunWriter(w.staging, "state/", changeset.Meta{Connection: testConn, JobID: "job-1"})
	for _, e := range entries {
		require.NoError(t, wr.Add(ctx, e))
	}
	ref, err := wr.Close(ctx)
	require.NoError(t, err)
	x, err := changeset.LoadIndex(ctx, w.staging, ref)
	require.NoError(t, err)

	for _, r := range []*model.TableRange{nil, {Before: "a/b"}, {From: "a/b", Before: "m/"}, {From: "m/", Before: "n%"}, {From: "n%"}} {
		ev := job.PartitionDone{Partition: "p001", Connection: testConn, Database: "shop", Schemas: []string{"sales"}, Range: r}
		set, err := svc.partitionBase(ctx, ev, x, entries[len(entries)-1])
		require.NoError(t, err)
		for _, e := range entries {
			n, err := changeset.SplitName(testConn, e.Kind, e.QualifiedName)
			require.NoError(t, err)
			mine := n.Schema == "sales" || e.Kind == model.KindDatabase
			if r != nil && n.Table != "" {
				mine = mine && n.Table >= r.From && (r.Before == "" || n.Table < r.Before)
			}
			if r != nil && n.Table == "" {
				mine = mine && r.From == "" // the schema, its routines, the database: the first range's
			}
			require.Equal(t, mine, set.Unchanged(e), "range %+v, %s %s", r, e.Kind, e.QualifiedName)
		}
	}
}
