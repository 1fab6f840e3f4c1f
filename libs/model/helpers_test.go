package model

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test -update")
	require.Equal(t, string(want), string(got), "output differs from %s; if the change is intended, run go test -update", path)
}

// memSink keeps every batch it receives, in order.
type memSink struct {
	kinds []Kind
	recs  []arrow.Record
}

func (s *memSink) WriteRecord(k Kind, rec arrow.Record) error {
	rec.Retain()
	s.kinds = append(s.kinds, k)
	s.recs = append(s.recs, rec)
	return nil
}

func (s *memSink) release() {
	for _, r := range s.recs {
		r.Release()
	}
	s.recs = nil
}

var sampleTime = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

// sample is a small catalog with every kind, every table/constraint/routine
// kind, nulls and set values, and names that need escaping.
type sample struct {
	databases   []Database
	schemas     []Schema
	tables      []Table
	columns     []Column
	constraints []Constraint
	indexes     []Index
	routines    []Routine
	lineage     []Lineage
	stats       []TableStats
}

func newSample() sample {
	const conn = "default/postgres/1700000000"
	n := Names{Connection: conn, Database: "shop", Schema: "sales"}
	orders := n
	orders.Table = "orders"
	odd := n
	odd.Table = "50%/off \"q\" ünï"
	view := n
	view.Table = "v_orders"
	mv := n
	mv.Table = "mv_daily"
	ft := n
	ft.Table = "remote_orders"
	pt := n
	pt.Table = "events"
	part := n
	part.Table = "events_2024"
	created := time.Date(2023, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))

	var s sample
	s.databases = []Database{
		{QualifiedName: n.DatabaseQN(), ParentQualifiedName: conn, Name: "shop", Owner: Ptr("postgres"), Comment: Ptr("main <shop> & co")},
	}
	s.schemas = []Schema{
		{QualifiedName: n.SchemaQN(), ParentQualifiedName: n.DatabaseQN(), Database: "shop", Name: "sales", Owner: Ptr("sales_owner")},
	}
	tbl := func(nn Names, kind string) Table {
		return Table{QualifiedName: nn.TableQN(), ParentQualifiedName: nn.SchemaQN(), Database: nn.Database, Schema: nn.Schema, Name: nn.Table, Kind: kind}
	}
	t1 := tbl(orders, TableKindTable)
	t1.Owner, t1.Comment, t1.CreatedAt, t1.AlteredAt = Ptr("app"), Ptr("all orders"), &created, Ptr(sampleTime)
	t2 := tbl(view, TableKindView)
	t2.ViewDefinition = Ptr("SELECT id FROM sales.orders WHERE total > 0")
	t3 := tbl(mv, TableKindMaterializedView)
	t3.ViewDefinition = Ptr("SELECT count(*) FROM sales.orders")
	t4 := tbl(part, TableKindPartition)
	t4.PartitionOf = Ptr(pt.TableQN())
	s.tables = []Table{t1, tbl(odd, TableKindTable), t2, t3, tbl(ft, TableKindForeign), tbl(pt, TableKindPartitioned), t4}
	s.columns = []Column{
		{QualifiedName: orders.ChildQN("id"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "id", Ordinal: 1, DataType: "bigint", Default: Ptr("nextval('orders_id_seq')"), IsPrimaryKey: true, Comment: Ptr("key")},
		{QualifiedName: orders.ChildQN("customer/id"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "customer/id", Ordinal: 2, DataType: "integer", IsNullable: true, IsForeignKey: true},
		{QualifiedName: orders.ChildQN("total_x2"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "total_x2", Ordinal: 3, DataType: "numeric(12,2)", IsNullable: true, IsGenerated: true, GenerationExpression: Ptr("total * 2")},
		{QualifiedName: view.ChildQN("id"), ParentQualifiedName: view.TableQN(), Database: "shop", Schema: "sales", Table: "v_orders",
			Name: "id", Ordinal: 1, DataType: "bigint", IsNullable: true},
	}
	s.constraints = []Constraint{
		{QualifiedName: orders.ChildQN("orders_pkey"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "orders_pkey", Type: ConstraintPrimaryKey, Columns: []string{"id"}},
		{QualifiedName: orders.ChildQN("orders_customer_fkey"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "orders_customer_fkey", Type: ConstraintForeignKey, Columns: []string{"customer/id"},
			ReferencedTableQN: Ptr(QualifiedName(conn, "shop", "crm", "customers")), ReferencedColumns: []string{"id"},
			OnUpdate: Ptr("NO ACTION"), OnDelete: Ptr("CASCADE")},
		{QualifiedName: orders.ChildQN("orders_total_check"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "orders_total_check", Type: ConstraintCheck, CheckClause: Ptr("(total >= 0)")},
		{QualifiedName: orders.ChildQN("orders_ref_key"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "orders_ref_key", Type: ConstraintUnique, Columns: []string{"ref", "region"}},
	}
	s.indexes = []Index{
		{QualifiedName: orders.ChildQN("orders_pkey"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "orders_pkey", Columns: []string{"id"}, IsUnique: true, IsPrimary: true, Method: Ptr("btree")},
		{QualifiedName: orders.ChildQN("orders_open_idx"), ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			Name: "orders_open_idx", Columns: []string{"customer/id", "total"}, Predicate: Ptr("status <> 'closed'")},
	}
	s.routines = []Routine{
		{QualifiedName: n.RoutineQN("add", "integer, integer"), ParentQualifiedName: n.SchemaQN(), Database: "shop", Schema: "sales",
			Name: "add", Kind: RoutineFunction, Language: Ptr("sql"), Arguments: "a integer, b integer", ReturnType: Ptr("integer"),
			Definition: Ptr("SELECT a + b"), Comment: Ptr("adds"),
			// cut by an earlier writer: the mark survives a round trip
			TruncatedFields: []string{"definition"}},
		{QualifiedName: n.RoutineQN("archive", ""), ParentQualifiedName: n.SchemaQN(), Database: "shop", Schema: "sales",
			Name: "archive", Kind: RoutineProcedure, Language: Ptr("plpgsql"), Arguments: ""},
	}
	s.lineage = []Lineage{
		{QualifiedName: LineageQN(view.TableQN(), orders.TableQN()), ParentQualifiedName: view.TableQN(), Database: "shop", Schema: "sales",
			View: "v_orders", SourceQN: orders.TableQN(), SourceKind: TableKindTable},
		{QualifiedName: LineageQN(mv.TableQN(), view.TableQN()), ParentQualifiedName: mv.TableQN(), Database: "shop", Schema: "sales",
			View: "mv_daily", SourceQN: view.TableQN(), SourceKind: TableKindView},
	}
	s.stats = []TableStats{
		{QualifiedName: orders.TableQN() + "/@stats", ParentQualifiedName: orders.TableQN(), Database: "shop", Schema: "sales", Table: "orders",
			RowCount: Ptr(int64(1234)), TotalBytes: Ptr(int64(98304)), LastAnalyzed: Ptr(sampleTime)},
		{QualifiedName: odd.TableQN() + "/@stats", ParentQualifiedName: odd.TableQN(), Database: "shop", Schema: "sales", Table: odd.Table},
	}
	return s
}

// write sends every row of s to w, in Kinds order.
func (s sample) write(t testing.TB, w *Writer) {
	t.Helper()
	for _, r := range s.databases {
		require.NoError(t, w.Database(r))
	}
	for _, r := range s.schemas {
		require.NoError(t, w.Schema(r))
	}
	for _, r := range s.tables {
		require.NoError(t, w.Table(r))
	}
	for _, r := range s.columns {
		require.NoError(t, w.Column(r))
	}
	for _, r := range s.constraints {
		require.NoError(t, w.Constraint(r))
	}
	for _, r := range s.indexes {
		require.NoError(t, w.Index(r))
	}
	for _, r := range s.routines {
		require.NoError(t, w.Routine(r))
	}
	for _, r := range s.lineage {
		require.NoError(t, w.Lineage(r))
	}
	for _, r := range s.stats {
		require.NoError(t, w.TableStats(r))
	}
}

func (s sample) counts() map[Kind]int64 {
	return map[Kind]int64{
		KindDatabase: int64(len(s.databases)), KindSchema: int64(len(s.schemas)), KindTable: int64(len(s.tables)),
		KindColumn: int64(len(s.columns)), KindConstraint: int64(len(s.constraints)), KindIndex: int64(len(s.indexes)),
		KindRoutine: int64(len(s.routines)), KindLineage: int64(len(s.lineage)), KindTableStats: int64(len(s.stats)),
	}
}

// decoded is what reading a directory back gives, in the row types.
type decoded struct {
	sample
	jobIDs map[string]bool
	times  map[time.Time]bool
}

func decodeRecord(d *decoded, kind Kind, rec arrow.Record) {
	c := newColumns(rec)
	for i := 0; i < int(rec.NumRows()); i++ {
		p := c.provenance(i)
		if d.jobIDs == nil {
			d.jobIDs, d.times = map[string]bool{}, map[time.Time]bool{}
		}
		d.jobIDs[p.JobID], d.times[p.ExtractedAt] = true, true
		switch kind {
		case KindDatabase:
			d.databases = append(d.databases, c.database(i))
		case KindSchema:
			d.schemas = append(d.schemas, c.schema(i))
		case KindTable:
			d.tables = append(d.tables, c.table(i))
		case KindColumn:
			d.columns = append(d.columns, c.column(i))
		case KindConstraint:
			d.constraints = append(d.constraints, c.constraint(i))
		case KindIndex:
			d.indexes = append(d.indexes, c.index(i))
		case KindRoutine:
			d.routines = append(d.routines, c.routine(i))
		case KindLineage:
			d.lineage = append(d.lineage, c.lineage(i))
		case KindTableStats:
			d.stats = append(d.stats, c.tableStats(i))
		}
	}
}

// normalized is s as it reads back: times in UTC, nil lists empty.
func (s sample) normalized() sample {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		return Ptr(t.UTC())
	}
	list := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	out := s
	out.tables = nil
	for _, r := range s.tables {
		r.CreatedAt, r.AlteredAt = utc(r.CreatedAt), utc(r.AlteredAt)
		out.tables = append(out.tables, r)
	}
	out.constraints = nil
	for _, r := range s.constraints {
		r.Columns, r.ReferencedColumns = list(r.Columns), list(r.ReferencedColumns)
		out.constraints = append(out.constraints, r)
	}
	out.indexes = nil
	for _, r := range s.indexes {
		r.Columns = list(r.Columns)
		out.indexes = append(out.indexes, r)
	}
	out.stats = nil
	for _, r := range s.stats {
		r.LastAnalyzed = utc(r.LastAnalyzed)
		out.stats = append(out.stats, r)
	}
	return out
}
