package model

import (
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// columns gives typed access to a record's columns by field name. Records
// reach it only after their schema was checked against ArrowSchema(kind)
// (and their buffers validated), so every name and type used below exists.
type columns struct {
	strCols map[string]*array.String
	bools   map[string]*array.Boolean
	i32s    map[string]*array.Int32
	i64s    map[string]*array.Int64
	times   map[string]*array.Timestamp
	lists   map[string]stringList
}

type stringList struct {
	list   *array.List
	values *array.String
}

func newColumns(rec arrow.Record) *columns {
	c := &columns{
		strCols: map[string]*array.String{}, bools: map[string]*array.Boolean{}, i32s: map[string]*array.Int32{},
		i64s: map[string]*array.Int64{}, times: map[string]*array.Timestamp{}, lists: map[string]stringList{},
	}
	for i, f := range rec.Schema().Fields() {
		switch a := rec.Column(i).(type) {
		case *array.String:
			c.strCols[f.Name] = a
		case *array.Boolean:
			c.bools[f.Name] = a
		case *array.Int32:
			c.i32s[f.Name] = a
		case *array.Int64:
			c.i64s[f.Name] = a
		case *array.Timestamp:
			c.times[f.Name] = a
		case *array.List:
			if v, ok := a.ListValues().(*array.String); ok {
				c.lists[f.Name] = stringList{list: a, values: v}
			}
		}
	}
	return c
}

func (c *columns) str(name string, i int) string { return c.strCols[name].Value(i) }

func (c *columns) optStr(name string, i int) *string {
	a := c.strCols[name]
	if a.IsNull(i) {
		return nil
	}
	return Ptr(a.Value(i))
}

func (c *columns) boolean(name string, i int) bool { return c.bools[name].Value(i) }
func (c *columns) int32(name string, i int) int32  { return c.i32s[name].Value(i) }

func (c *columns) optInt64(name string, i int) *int64 {
	a := c.i64s[name]
	if a.IsNull(i) {
		return nil
	}
	return Ptr(a.Value(i))
}

func (c *columns) time(name string, i int) time.Time {
	return c.times[name].Value(i).ToTime(arrow.Microsecond).UTC()
}

func (c *columns) optTime(name string, i int) *time.Time {
	if c.times[name].IsNull(i) {
		return nil
	}
	return Ptr(c.time(name, i))
}

// strs returns a list cell; never nil, so an empty list stays [] in JSON.
func (c *columns) strs(name string, i int) []string {
	l := c.lists[name]
	out := []string{}
	if l.list.IsNull(i) {
		return out
	}
	start, end := l.list.ValueOffsets(i)
	for j := start; j < end; j++ {
		out = append(out, l.values.Value(int(j)))
	}
	return out
}

// truncated is a row's truncated_fields, nil when none was cut (rows
// written without truncation read back as they were given).
func (c *columns) truncated(i int) []string {
	if v := c.strs(FieldTruncated, i); len(v) > 0 {
		return v
	}
	return nil
}

// provenance is what the Writer adds to every row.
type provenance struct {
	JobID       string
	ExtractedAt time.Time
}

func (c *columns) provenance(i int) provenance {
	return provenance{JobID: c.str("job_id", i), ExtractedAt: c.time("extracted_at", i)}
}

func (c *columns) qn(i int) (string, string) {
	return c.str("qualified_name", i), c.str("parent_qualified_name", i)
}

func (c *columns) database(i int) Database {
	qn, parent := c.qn(i)
	return Database{QualifiedName: qn, ParentQualifiedName: parent, Name: c.str("database_name", i),
		Owner: c.optStr("owner", i), Comment: c.optStr("comment", i), TruncatedFields: c.truncated(i)}
}

func (c *columns) schema(i int) Schema {
	qn, parent := c.qn(i)
	return Schema{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Name: c.str("schema_name", i), Owner: c.optStr("owner", i), Comment: c.optStr("comment", i),
		TruncatedFields: c.truncated(i)}
}

func (c *columns) table(i int) Table {
	qn, parent := c.qn(i)
	return Table{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Schema: c.str("schema_name", i), Name: c.str("table_name", i), Kind: c.str("table_kind", i),
		Owner: c.optStr("owner", i), Comment: c.optStr("comment", i),
		CreatedAt: c.optTime("created_at", i), AlteredAt: c.optTime("altered_at", i),
		PartitionOf: c.optStr("partition_of", i), ViewDefinition: c.optStr("view_definition", i),
		TruncatedFields: c.truncated(i)}
}

func (c *columns) column(i int) Column {
	qn, parent := c.qn(i)
	return Column{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Schema: c.str("schema_name", i), Table: c.str("table_name", i), Name: c.str("column_name", i),
		Ordinal: c.int32("ordinal", i), DataType: c.str("data_type", i), IsNullable: c.boolean("is_nullable", i),
		Default: c.optStr("default_value", i), IsGenerated: c.boolean("is_generated", i),
		GenerationExpression: c.optStr("generation_expression", i),
		IsPrimaryKey:         c.boolean("is_primary_key", i), IsForeignKey: c.boolean("is_foreign_key", i),
		Comment: c.optStr("comment", i), TruncatedFields: c.truncated(i)}
}

func (c *columns) constraint(i int) Constraint {
	qn, parent := c.qn(i)
	return Constraint{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Schema: c.str("schema_name", i), Table: c.str("table_name", i), Name: c.str("constraint_name", i),
		Type: c.str("constraint_type", i), Columns: c.strs("columns", i),
		ReferencedTableQN: c.optStr("referenced_table_qualified_name", i), ReferencedColumns: c.strs("referenced_columns", i),
		CheckClause: c.optStr("check_clause", i), OnUpdate: c.optStr("on_update", i), OnDelete: c.optStr("on_delete", i),
		TruncatedFields: c.truncated(i)}
}

func (c *columns) index(i int) Index {
	qn, parent := c.qn(i)
	return Index{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Schema: c.str("schema_name", i), Table: c.str("table_name", i), Name: c.str("index_name", i),
		Columns: c.strs("columns", i), IsUnique: c.boolean("is_unique", i), IsPrimary: c.boolean("is_primary", i),
		Method: c.optStr("method", i), Predicate: c.optStr("predicate", i), TruncatedFields: c.truncated(i)}
}

func (c *columns) routine(i int) Routine {
	qn, parent := c.qn(i)
	return Routine{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Schema: c.str("schema_name", i), Name: c.str("routine_name", i), Kind: c.str("routine_kind", i),
		Language: c.optStr("language", i), Arguments: c.str("arguments", i), ReturnType: c.optStr("return_type", i),
		Definition: c.optStr("definition", i), Comment: c.optStr("comment", i), TruncatedFields: c.truncated(i)}
}

func (c *columns) lineage(i int) Lineage {
	qn, parent := c.qn(i)
	return Lineage{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Schema: c.str("schema_name", i), View: c.str("view_name", i),
		SourceQN: c.str("source_qualified_name", i), SourceKind: c.str("source_kind", i)}
}

func (c *columns) tableStats(i int) TableStats {
	qn, parent := c.qn(i)
	return TableStats{QualifiedName: qn, ParentQualifiedName: parent, Database: c.str("database_name", i),
		Schema: c.str("schema_name", i), Table: c.str("table_name", i),
		RowCount: c.optInt64("row_count", i), TotalBytes: c.optInt64("total_bytes", i),
		LastAnalyzed: c.optTime("last_analyzed", i)}
}
