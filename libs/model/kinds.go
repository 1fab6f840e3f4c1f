package model

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// Kind is an asset kind; each has one Arrow schema.
type Kind string

const (
	KindDatabase   Kind = "database"
	KindSchema     Kind = "schema"
	KindTable      Kind = "table"
	KindColumn     Kind = "column"
	KindConstraint Kind = "constraint"
	KindIndex      Kind = "index"
	KindRoutine    Kind = "routine"
	KindLineage    Kind = "lineage"
	KindTableStats Kind = "table_stats"
)

// Kinds lists every asset kind in a stable order (parents before children).
var Kinds = []Kind{KindDatabase, KindSchema, KindTable, KindColumn, KindConstraint, KindIndex, KindRoutine, KindLineage, KindTableStats}

// KindTombstone is not an asset: a tombstone row names an asset a run
// found deleted (ADR 0015), with the deleted asset's kind and the reason.
const KindTombstone Kind = "tombstone"

// FileKinds are the kinds a file may hold: every asset kind, then
// tombstones.
var FileKinds = append(append([]Kind(nil), Kinds...), KindTombstone)

// Tombstone reasons.
const (
	ReasonDropped    = "dropped"     // its database and schema were read and it is not there
	ReasonExcluded   = "excluded"    // the job's filters or databases now leave it out
	ReasonNotVisible = "not_visible" // the agent's user no longer sees it (it may still exist)
)

// SchemaVersion is stamped into every schema's metadata; bump it when a
// schema changes incompatibly.
const SchemaVersion = "2"

// Table kinds.
const (
	TableKindTable            = "table"
	TableKindView             = "view"
	TableKindMaterializedView = "materialized_view"
	TableKindForeign          = "foreign"
	TableKindPartitioned      = "partitioned"
	TableKindPartition        = "partition"
)

// Constraint types.
const (
	ConstraintPrimaryKey = "primary_key"
	ConstraintForeignKey = "foreign_key"
	ConstraintUnique     = "unique"
	ConstraintCheck      = "check"
)

// Routine kinds.
const (
	RoutineFunction  = "function"
	RoutineProcedure = "procedure"
)

type fieldDef struct {
	name       string
	typ        arrow.DataType
	nullable   bool
	excludable bool // may be dropped by a field-exclusion list
	// text marks free text the catalog lets users make arbitrarily long
	// (comments, definitions, expressions): the Writer caps it at
	// WriterOptions.MaxTextBytes and lists it in truncated_fields.
	text bool
}

var (
	tsUTC      = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	str        = arrow.BinaryTypes.String
	strList    = arrow.ListOf(arrow.BinaryTypes.String)
	commonDefs = []fieldDef{
		{name: "qualified_name", typ: str},
		{name: "parent_qualified_name", typ: str},
		{name: "job_id", typ: str},
		{name: "extracted_at", typ: tsUTC},
	}
)

func req(name string, t arrow.DataType) fieldDef { return fieldDef{name: name, typ: t} }
func opt(name string, t arrow.DataType) fieldDef { return fieldDef{name: name, typ: t, nullable: true} }
func excl(name string, t arrow.DataType) fieldDef {
	return fieldDef{name: name, typ: t, nullable: true, excludable: true}
}

// text marks d as capped free text.
func text(d fieldDef) fieldDef { d.text = true; return d }

// FieldTruncated is the field of every kind with text fields that lists,
// in schema order, the text fields of the row cut at MaxTextBytes (empty
// when none was).
const FieldTruncated = "truncated_fields"

var truncatedDef = req(FieldTruncated, strList)

// kindDefs are the kind-specific fields, after the common ones. The order is
// the schema's order and the order the appenders in rows.go write.
var kindDefs = map[Kind][]fieldDef{
	KindDatabase: {req("database_name", str), excl("owner", str), text(excl("comment", str)), truncatedDef},
	KindSchema:   {req("database_name", str), req("schema_name", str), excl("owner", str), text(excl("comment", str)), truncatedDef},
	KindTable: {
		req("database_name", str), req("schema_name", str), req("table_name", str), req("table_kind", str),
		excl("owner", str), text(excl("comment", str)), opt("created_at", tsUTC), opt("altered_at", tsUTC),
		opt("partition_of", str), text(excl("view_definition", str)), truncatedDef,
	},
	KindColumn: {
		req("database_name", str), req("schema_name", str), req("table_name", str), req("column_name", str),
		// data_type is free text in SQLite (any declared type is accepted).
		req("ordinal", arrow.PrimitiveTypes.Int32), text(req("data_type", str)), req("is_nullable", arrow.FixedWidthTypes.Boolean),
		text(excl("default_value", str)), req("is_generated", arrow.FixedWidthTypes.Boolean), text(excl("generation_expression", str)),
		req("is_primary_key", arrow.FixedWidthTypes.Boolean), req("is_foreign_key", arrow.FixedWidthTypes.Boolean),
		text(excl("comment", str)), truncatedDef,
	},
	KindConstraint: {
		req("database_name", str), req("schema_name", str), req("table_name", str), req("constraint_name", str),
		req("constraint_type", str), req("columns", strList), opt("referenced_table_qualified_name", str),
		req("referenced_columns", strList), text(excl("check_clause", str)), opt("on_update", str), opt("on_delete", str),
		truncatedDef,
	},
	KindIndex: {
		// columns holds expressions for expression indexes: each is capped.
		req("database_name", str), req("schema_name", str), req("table_name", str), req("index_name", str),
		text(req("columns", strList)), req("is_unique", arrow.FixedWidthTypes.Boolean), req("is_primary", arrow.FixedWidthTypes.Boolean),
		opt("method", str), text(excl("predicate", str)), truncatedDef,
	},
	KindRoutine: {
		// arguments and return_type carry default expressions and table types.
		req("database_name", str), req("schema_name", str), req("routine_name", str), req("routine_kind", str),
		opt("language", str), text(req("arguments", str)), text(opt("return_type", str)), text(excl("definition", str)),
		text(excl("comment", str)), truncatedDef,
	},
	KindLineage: {
		req("database_name", str), req("schema_name", str), req("view_name", str),
		req("source_qualified_name", str), req("source_kind", str),
	},
	KindTableStats: {
		req("database_name", str), req("schema_name", str), req("table_name", str),
		opt("row_count", arrow.PrimitiveTypes.Int64), opt("total_bytes", arrow.PrimitiveTypes.Int64),
		opt("last_analyzed", tsUTC),
	},
	KindTombstone: {req("asset_kind", str), req("reason", str)},
}

var schemas = func() map[Kind]*arrow.Schema {
	m := make(map[Kind]*arrow.Schema, len(FileKinds))
	for _, k := range FileKinds {
		defs := append(append([]fieldDef(nil), commonDefs...), kindDefs[k]...)
		fields := make([]arrow.Field, len(defs))
		for i, d := range defs {
			fields[i] = arrow.Field{Name: d.name, Type: d.typ, Nullable: d.nullable}
		}
		md := arrow.NewMetadata([]string{MetaKind, MetaSchemaVersion}, []string{string(k), SchemaVersion})
		m[k] = arrow.NewSchema(fields, &md)
	}
	return m
}()

// ArrowSchema returns the Arrow schema of kind k.
func ArrowSchema(k Kind) *arrow.Schema { return schemas[k] }

// ParseKind validates a kind name (an asset kind or tombstone).
func ParseKind(s string) (Kind, error) {
	for _, k := range FileKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown asset kind %q; kinds are %v", s, FileKinds)
}

// ParseAssetKind validates the name of an asset kind (not tombstone).
func ParseAssetKind(s string) (Kind, error) {
	k, err := ParseKind(s)
	if err == nil && k == KindTombstone {
		return "", fmt.Errorf("%q is not an asset kind; kinds are %v", s, Kinds)
	}
	return k, err
}

// ExcludableFields lists every field a job may exclude, by name; a name
// covers that field in every kind that has it.
func ExcludableFields() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range Kinds {
		for _, d := range kindDefs[k] {
			if d.excludable && !seen[d.name] {
				seen[d.name] = true
				out = append(out, d.name)
			}
		}
	}
	return out
}

// TextFields lists the capped free-text fields of kind k, in schema order
// (none for lineage and table_stats, which hold names only).
func TextFields(k Kind) []string {
	var out []string
	for _, d := range kindDefs[k] {
		if d.text {
			out = append(out, d.name)
		}
	}
	return out
}
