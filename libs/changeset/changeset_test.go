package changeset

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/assetfilter"
	"github.com/secure-agent/secure-agent/libs/model"
)

const conn = "default/postgres/1"

type sink struct{ entries []Entry }

func (s *sink) WriteRecord(k model.Kind, rec arrow.Record) error {
	es, err := EntriesOf(k, rec)
	if err != nil {
		return err
	}
	s.entries = append(s.entries, es...)
	return nil
}

// catalog describes a small catalog: tables (with two columns each) in
// database.schema, and the comment every table carries.
type catalog struct {
	tables  map[string][]string // "db.schema" -> tables
	comment string
	jobID   string
}

func (c catalog) entries(t *testing.T) []Entry {
	t.Helper()
	s := &sink{}
	w, err := model.NewWriter(s, model.WriterOptions{JobID: c.jobID, ExtractedAt: time.Now()})
	require.NoError(t, err)
	dbs := map[string]bool{}
	for ds, tables := range c.tables {
		db, schema, _ := strings.Cut(ds, ".")
		n := model.Names{Connection: conn, Database: db, Schema: schema}
		if !dbs[db] {
			dbs[db] = true
			require.NoError(t, w.Database(model.Database{QualifiedName: n.DatabaseQN(), ParentQualifiedName: conn, Name: db}))
		}
		require.NoError(t, w.Schema(model.Schema{QualifiedName: n.SchemaQN(), ParentQualifiedName: n.DatabaseQN(), Database: db, Name: schema}))
		for _, tb := range tables {
			n.Table = tb
			require.NoError(t, w.Table(model.Table{QualifiedName: n.TableQN(), ParentQualifiedName: n.SchemaQN(), Database: db, Schema: schema,
				Name: tb, Kind: model.TableKindTable, Comment: model.Ptr(c.comment)}))
			for i, col := range []string{"id", "name"} {
				require.NoError(t, w.Column(model.Column{QualifiedName: n.ChildQN(col), ParentQualifiedName: n.TableQN(), Database: db,
					Schema: schema, Table: tb, Name: col, Ordinal: int32(i + 1), DataType: "text"}))
			}
		}
	}
	require.NoError(t, w.Close())
	return s.entries
}

func snapshotOf(t *testing.T, c catalog) *Snapshot {
	s, err := NewSnapshot(Meta{Connection: conn, JobID: c.jobID}, c.entries(t))
	require.NoError(t, err)
	return s
}

func allReadable(dbs ...string) Scope {
	sc := Scope{Connection: conn, Listing: Listing{Databases: map[string]DatabaseState{}, ListsAllDatabases: true}}
	for _, d := range dbs {
		sc.Databases[d] = DatabaseState{Readable: true, TablesComplete: true}
	}
	return sc
}

func TestDigestIgnoresJobAndTimeAndNamesTheChangedAttribute(t *testing.T) {
	a := catalog{tables: map[string][]string{"sales.public": {"orders"}}, comment: "x", jobID: "job-1"}
	b := a
	b.jobID = "job-2"
	base := snapshotOf(t, a)
	for _, e := range b.entries(t) {
		op, _ := base.Classify(e)
		require.Equal(t, Unchanged, op, "%s %s", e.Kind, e.QualifiedName)
	}
	b.comment = "y"
	var updated int
	for _, e := range b.entries(t) {
		op, changed := base.Classify(e)
		if e.Kind == model.KindTable {
			require.Equal(t, Updated, op)
			require.Equal(t, []string{"comment"}, changed)
			updated++
		} else {
			require.Equal(t, Unchanged, op)
		}
	}
	require.Equal(t, 1, updated)
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := snapshotOf(t, catalog{tables: map[string][]string{"sales.public": {"b", "a"}, "sales.crm": {"c"}}, jobID: "job-1"})
	s.Meta.CreatedAt = time.Date(2026, 12, 4, 1, 2, 3, 0, time.UTC)
	data, err := s.Encode()
	require.NoError(t, err)
	got, err := DecodeSnapshot(data)
	require.NoError(t, err)
	require.Equal(t, s.Meta, got.Meta)
	require.Equal(t, s.Entries(), got.Entries())
	e, ok := got.Lookup(model.KindColumn, conn+"/sales/public/a/name")
	require.True(t, ok)
	require.Len(t, e.Fields, len(Attributes(model.KindColumn)))

	_, err = DecodeSnapshot(data[:len(data)/2])
	require.Error(t, err)
	empty, err := NewSnapshot(Meta{Connection: conn}, nil)
	require.NoError(t, err)
	data, err = empty.Encode()
	require.NoError(t, err)
	got, err = DecodeSnapshot(data)
	require.NoError(t, err)
	require.Zero(t, got.Len())

	dup := s.Entries()[0]
	_, err = NewSnapshot(Meta{Connection: conn}, []Entry{dup, dup})
	require.ErrorContains(t, err, "listed twice")
}

func TestFinish(t *testing.T) {
	base := snapshotOf(t, catalog{tables: map[string][]string{
		"sales.public": {"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10"},
		"hr.public":    {"people"},
	}, jobID: "job-1"})
	run := func(tables map[string][]string, sc Scope, opts Options) Result {
		t.Helper()
		res, err := Finish(base, catalog{tables: tables, jobID: "job-2"}.entries(t), sc, opts, Meta{Connection: conn, JobID: "job-2"})
		require.NoError(t, err)
		return res
	}
	reasons := func(res Result) map[string]Reason {
		out := map[string]Reason{}
		for _, tb := range res.Tombstones {
			out[string(tb.Kind)+" "+strings.TrimPrefix(tb.QualifiedName, conn+"/")] = tb.Reason
		}
		return out
	}
	all := map[string][]string{"sales.public": {"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10"}, "hr.public": {"people"}}
	without := func(ds, table string) map[string][]string {
		out := map[string][]string{}
		for k, v := range all {
			for _, tb := range v {
				if !(k == ds && tb == table) {
					out[k] = append(out[k], tb)
				}
			}
		}
		return out
	}

	t.Run("first run creates everything", func(t *testing.T) {
		res, err := Finish(nil, catalog{tables: all, jobID: "job-0"}.entries(t), allReadable("sales", "hr"), Options{}, Meta{Connection: conn})
		require.NoError(t, err)
		require.Empty(t, res.Tombstones)
		require.EqualValues(t, 11, res.Counts[model.KindTable].Created)
		require.Equal(t, base.Len(), res.Next.Len())
	})
	t.Run("a dropped table and its columns", func(t *testing.T) {
		res := run(without("sales.public", "t3"), allReadable("sales", "hr"), Options{})
		require.Equal(t, map[string]Reason{"table sales/public/t3": ReasonDropped, "column sales/public/t3/id": ReasonDropped,
			"column sales/public/t3/name": ReasonDropped}, reasons(res))
		require.Empty(t, res.FailSafes)
		require.EqualValues(t, Counts{Unchanged: 10, Deleted: 1}, res.Counts[model.KindTable])
		require.Equal(t, base.Len()-3, res.Next.Len())
	})
	t.Run("newly excluded by a filter", func(t *testing.T) {
		f, err := assetfilter.Filters{ExcludeTables: []string{`public\.t4`}}.Compile()
		require.NoError(t, err)
		sc := allReadable("sales", "hr")
		sc.Filters = f
		res := run(without("sales.public", "t4"), sc, Options{})
		require.Equal(t, ReasonExcluded, reasons(res)["table sales/public/t4"])
		sc = allReadable("sales", "hr")
		sc.SelectedDatabases = []string{"sales"}
		res = run(map[string][]string{"sales.public": all["sales.public"]}, sc, Options{MaxDeletionShare: 1})
		require.Equal(t, ReasonExcluded, reasons(res)["table hr/public/people"])
		require.Equal(t, ReasonExcluded, reasons(res)["database hr"])
	})
	t.Run("schemas the job no longer selects", func(t *testing.T) {
		sc := allReadable("sales", "hr")
		sc.SelectedSchemas = []string{"other"}
		res := run(map[string][]string{"sales.public": all["sales.public"]}, sc, Options{MaxDeletionShare: 1})
		require.Equal(t, ReasonExcluded, reasons(res)["table hr/public/people"])
		require.Equal(t, ReasonExcluded, reasons(res)["schema hr/public"])
	})
	t.Run("not visible to the agent's user", func(t *testing.T) {
		sc := allReadable("sales", "hr")
		sc.Databases["sales"] = DatabaseState{Readable: true}
		res := run(without("sales.public", "t5"), sc, Options{})
		require.Equal(t, ReasonNotVisible, reasons(res)["table sales/public/t5"])
		require.Equal(t, ReasonNotVisible, reasons(res)["column sales/public/t5/id"])
	})
	t.Run("an unreadable database withholds its deletions only", func(t *testing.T) {
		sc := allReadable("sales")
		sc.Databases["hr"] = DatabaseState{}
		tables := without("sales.public", "t6")
		delete(tables, "hr.public")
		res := run(tables, sc, Options{})
		require.Equal(t, map[string]Reason{"table sales/public/t6": ReasonDropped, "column sales/public/t6/id": ReasonDropped,
			"column sales/public/t6/name": ReasonDropped}, reasons(res))
		require.Len(t, res.FailSafes, 1)
		require.Equal(t, FailSafeUnreadable, res.FailSafes[0].Name)
		require.Contains(t, res.FailSafes[0].Message, "withheld: hr held assets")
		require.EqualValues(t, 1, res.FailSafes[0].Withheld[model.KindTable])
		_, kept := res.Next.Lookup(model.KindTable, conn+"/hr/public/people")
		require.True(t, kept, "a withheld asset stays in the state")

		// No longer listed: withheld unless the listing shows every database.
		sc = allReadable("sales")
		sc.ListsAllDatabases = false
		res = run(tables, sc, Options{})
		require.Equal(t, FailSafeUnreadable, res.FailSafes[0].Name)
		sc.ListsAllDatabases = true
		res = run(tables, sc, Options{MaxDeletionShare: 1})
		require.Equal(t, ReasonDropped, reasons(res)["database hr"])
	})
	t.Run("schemas listed per database (MySQL)", func(t *testing.T) {
		sc := allReadable("hr")
		sc.Databases["sales"] = DatabaseState{Readable: true, Schemas: map[string]SchemaState{}}
		res := run(map[string][]string{"hr.public": {"people"}}, sc, Options{MaxDeletionShare: 1})
		// Only the database row (this catalog writes none for a database
		// without schemas) is judged: everything under the schema is withheld.
		require.Equal(t, map[string]Reason{"database sales": ReasonDropped}, reasons(res))
		require.Equal(t, FailSafeUnreadable, res.FailSafes[0].Name)
		require.Contains(t, res.FailSafes[0].Message, "sales.public")
		sc.Databases["sales"] = DatabaseState{Readable: true, Schemas: map[string]SchemaState{}, ListsAllSchemas: true}
		res = run(map[string][]string{"hr.public": {"people"}}, sc, Options{MaxDeletionShare: 1})
		require.Equal(t, ReasonDropped, reasons(res)["schema sales/public"])
		require.Equal(t, ReasonDropped, reasons(res)["table sales/public/t1"])
		sc.Databases["sales"] = DatabaseState{Readable: true, Schemas: map[string]SchemaState{"public": {Readable: true}}}
		res = run(without("sales.public", "t1"), sc, Options{})
		require.Equal(t, ReasonNotVisible, reasons(res)["table sales/public/t1"])
		sc.Databases["sales"].Schemas["public"] = SchemaState{Readable: true, TablesComplete: true}
		res = run(without("sales.public", "t1"), sc, Options{})
		require.Equal(t, ReasonDropped, reasons(res)["table sales/public/t1"])
	})
	t.Run("threshold", func(t *testing.T) {
		tables := map[string][]string{"sales.public": {"t1", "t2", "t3", "t4", "t5"}, "hr.public": {"people"}}
		res := run(tables, allReadable("sales", "hr"), Options{})
		require.Empty(t, res.Tombstones)
		require.Equal(t, FailSafeThreshold, res.FailSafes[0].Name)
		require.Contains(t, res.FailSafes[0].Message, "max_deletion_share: 0.")
		require.EqualValues(t, 5, res.Counts[model.KindTable].Withheld)
		require.Equal(t, base.Len(), res.Next.Len())
		res = run(tables, allReadable("sales", "hr"), Options{MaxDeletionShare: 1})
		require.Len(t, res.Tombstones, 15)
	})
	t.Run("no assets", func(t *testing.T) {
		res := run(nil, allReadable("sales", "hr"), Options{MaxDeletionShare: 1})
		require.Empty(t, res.Tombstones)
		require.Equal(t, FailSafeNoAssets, res.FailSafes[0].Name)
		require.Equal(t, base.Len(), res.Next.Len())
	})
	t.Run("incomplete run", func(t *testing.T) {
		res := run(without("sales.public", "t7"), allReadable("sales", "hr"), Options{Incomplete: "partition p001 failed"})
		require.Empty(t, res.Tombstones)
		require.Equal(t, FailSafePartitionFailed, res.FailSafes[0].Name)
		require.Contains(t, res.FailSafes[0].Message, "partition p001 failed")
	})
	t.Run("bad share", func(t *testing.T) {
		_, err := Finish(base, nil, allReadable(), Options{MaxDeletionShare: 1.5}, Meta{Connection: conn})
		require.ErrorContains(t, err, "max_deletion_share 1.5")
	})
}

func TestSplitName(t *testing.T) {
	n := model.Names{Connection: conn, Database: "d/b", Schema: "s%1", Table: "t.x"}
	for _, tc := range []struct {
		kind model.Kind
		qn   string
		want Names
	}{
		{model.KindDatabase, n.DatabaseQN(), Names{Database: "d/b"}},
		{model.KindSchema, n.SchemaQN(), Names{Database: "d/b", Schema: "s%1"}},
		{model.KindTable, n.TableQN(), Names{Database: "d/b", Schema: "s%1", Table: "t.x"}},
		{model.KindColumn, n.ChildQN("c/1"), Names{Database: "d/b", Schema: "s%1", Table: "t.x"}},
		{model.KindRoutine, n.RoutineQN("f", "integer, text"), Names{Database: "d/b", Schema: "s%1"}},
		{model.KindLineage, model.LineageQN(n.TableQN(), conn+"/x/y/z"), Names{Database: "d/b", Schema: "s%1", Table: "t.x"}},
	} {
		got, err := SplitName(conn, tc.kind, tc.qn)
		require.NoError(t, err, tc.qn)
		require.Equal(t, tc.want, got, tc.qn)
	}
	_, err := SplitName(conn, model.KindTable, "other/conn/db/s/t")
	require.ErrorContains(t, err, "not in connection")
	_, err = SplitName(conn, model.KindTable, conn+"/db")
	require.Error(t, err)
}

func TestParentOf(t *testing.T) {
	n := model.Names{Connection: conn, Database: "db", Schema: "s", Table: "t"}
	require.Equal(t, conn, ParentOf(conn, model.KindDatabase, n.DatabaseQN()))
	require.Equal(t, n.DatabaseQN(), ParentOf(conn, model.KindSchema, n.SchemaQN()))
	require.Equal(t, n.SchemaQN(), ParentOf(conn, model.KindTable, n.TableQN()))
	require.Equal(t, n.TableQN(), ParentOf(conn, model.KindColumn, n.ChildQN("c")))
	require.Equal(t, n.TableQN(), ParentOf(conn, model.KindTableStats, n.TableQN()))
	require.Equal(t, n.SchemaQN(), ParentOf(conn, model.KindRoutine, n.RoutineQN("f", "a/b")))
	require.Equal(t, n.TableQN(), ParentOf(conn, model.KindLineage, model.LineageQN(n.TableQN(), conn+"/db/s/src")))
}
