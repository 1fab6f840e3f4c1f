package model

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

// ExportEntityJSONL writes an output directory as catalog entity JSON lines,
// one {"typeName":...,"attributes":{...}} object per row, for control
// planes that want JSON. It verifies the directory against its manifest
// first, then streams batch by batch, so memory does not grow with the
// catalog. It returns the number of entities per typeName.
func ExportEntityJSONL(dir string, out io.Writer) (map[string]int, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := VerifyDir(dir); err != nil {
		return nil, err
	}
	files := slices.Clone(m.Files)
	slices.SortFunc(files, func(a, b FileInfo) int { return slices.Index(FileKinds, a.Kind) - slices.Index(FileKinds, b.Kind) })

	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // view definitions and checks are full of < > &
	counts := map[string]int{}
	for _, f := range files {
		err := readVerified(dir, f, func(kind Kind, rec arrow.Record) error {
			c := newColumns(rec)
			for i := 0; i < int(rec.NumRows()); i++ {
				e := entityOf(kind, c, i)
				if err := enc.Encode(e); err != nil {
					return fmt.Errorf("write entity: %w", err)
				}
				counts[e.TypeName]++
			}
			return nil
		})
		if err != nil {
			return counts, fmt.Errorf("model: export %s: %w", f.Name, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return counts, fmt.Errorf("model: write entities: %w", err)
	}
	return counts, nil
}

// Entity shapes. Struct field order is the JSON order, which keeps the
// output deterministic; pointer fields are null in the data and omitted.

type entity struct {
	TypeName   string `json:"typeName"`
	Status     string `json:"status,omitempty"` // DELETED for a tombstone
	Attributes any    `json:"attributes"`
}

// tombstoneAttrs name a deleted entity.
type tombstoneAttrs struct {
	QualifiedName string `json:"qualifiedName"`
	DeleteReason  string `json:"deleteReason"`
	provenanceAttrs
}

// assetTypeNames are the entity types of asset kinds, for a tombstone
// (which does not say whether a table was a view).
var assetTypeNames = map[Kind]string{
	KindDatabase: "Database", KindSchema: "Schema", KindTable: "Table", KindColumn: "Column", KindConstraint: "Constraint",
	KindIndex: "Index", KindRoutine: "Procedure", KindLineage: "Process", KindTableStats: "TableStats",
}

type entityRef struct {
	TypeName         string        `json:"typeName"`
	UniqueAttributes uniqueQNAttrs `json:"uniqueAttributes"`
}

type uniqueQNAttrs struct {
	QualifiedName string `json:"qualifiedName"`
}

// ref references an entity by qualified name; nil (omitted) when unknown.
func ref(typeName, qn string) *entityRef {
	if qn == "" {
		return nil
	}
	return &entityRef{TypeName: typeName, UniqueAttributes: uniqueQNAttrs{QualifiedName: qn}}
}

type provenanceAttrs struct {
	JobID       string `json:"jobId"`
	ExtractedAt string `json:"extractedAt"`
}

type databaseAttrs struct {
	QualifiedName           string   `json:"qualifiedName"`
	Name                    string   `json:"name"`
	ConnectionQualifiedName string   `json:"connectionQualifiedName,omitempty"`
	Owner                   *string  `json:"owner,omitempty"`
	Comment                 *string  `json:"comment,omitempty"`
	TruncatedFields         []string `json:"truncatedFields,omitempty"`
	provenanceAttrs
}

type schemaAttrs struct {
	QualifiedName         string     `json:"qualifiedName"`
	Name                  string     `json:"name"`
	DatabaseName          string     `json:"databaseName"`
	DatabaseQualifiedName string     `json:"databaseQualifiedName,omitempty"`
	Database              *entityRef `json:"database,omitempty"`
	Owner                 *string    `json:"owner,omitempty"`
	Comment               *string    `json:"comment,omitempty"`
	TruncatedFields       []string   `json:"truncatedFields,omitempty"`
	provenanceAttrs
}

type tableAttrs struct {
	QualifiedName         string     `json:"qualifiedName"`
	Name                  string     `json:"name"`
	TableKind             string     `json:"tableKind"`
	DatabaseName          string     `json:"databaseName"`
	SchemaName            string     `json:"schemaName"`
	SchemaQualifiedName   string     `json:"schemaQualifiedName,omitempty"`
	DatabaseQualifiedName string     `json:"databaseQualifiedName,omitempty"`
	Schema                *entityRef `json:"schema,omitempty"`
	Owner                 *string    `json:"owner,omitempty"`
	Comment               *string    `json:"comment,omitempty"`
	CreatedAt             *string    `json:"createdAt,omitempty"`
	AlteredAt             *string    `json:"alteredAt,omitempty"`
	PartitionOf           *string    `json:"partitionOf,omitempty"`
	ViewDefinition        *string    `json:"viewDefinition,omitempty"`
	TruncatedFields       []string   `json:"truncatedFields,omitempty"`
	provenanceAttrs
}

// tableChildAttrs are the parent attributes of a column, constraint,
// index or table statistics.
type tableChildAttrs struct {
	DatabaseName          string     `json:"databaseName"`
	SchemaName            string     `json:"schemaName"`
	TableName             string     `json:"tableName"`
	TableQualifiedName    string     `json:"tableQualifiedName,omitempty"`
	SchemaQualifiedName   string     `json:"schemaQualifiedName,omitempty"`
	DatabaseQualifiedName string     `json:"databaseQualifiedName,omitempty"`
	Table                 *entityRef `json:"table,omitempty"`
}

type columnAttrs struct {
	QualifiedName string `json:"qualifiedName"`
	Name          string `json:"name"`
	tableChildAttrs
	Ordinal              int32    `json:"ordinal"`
	DataType             string   `json:"dataType"`
	IsNullable           bool     `json:"isNullable"`
	DefaultValue         *string  `json:"defaultValue,omitempty"`
	IsGenerated          bool     `json:"isGenerated"`
	GenerationExpression *string  `json:"generationExpression,omitempty"`
	IsPrimaryKey         bool     `json:"isPrimaryKey"`
	IsForeignKey         bool     `json:"isForeignKey"`
	Comment              *string  `json:"comment,omitempty"`
	TruncatedFields      []string `json:"truncatedFields,omitempty"`
	provenanceAttrs
}

type constraintAttrs struct {
	QualifiedName string `json:"qualifiedName"`
	Name          string `json:"name"`
	tableChildAttrs
	ConstraintType               string     `json:"constraintType"`
	Columns                      []string   `json:"columns"`
	ReferencedTableQualifiedName *string    `json:"referencedTableQualifiedName,omitempty"`
	ReferencedTable              *entityRef `json:"referencedTable,omitempty"`
	ReferencedColumns            []string   `json:"referencedColumns,omitempty"`
	CheckClause                  *string    `json:"checkClause,omitempty"`
	OnUpdate                     *string    `json:"onUpdate,omitempty"`
	OnDelete                     *string    `json:"onDelete,omitempty"`
	TruncatedFields              []string   `json:"truncatedFields,omitempty"`
	provenanceAttrs
}

type indexAttrs struct {
	QualifiedName string `json:"qualifiedName"`
	Name          string `json:"name"`
	tableChildAttrs
	Columns         []string `json:"columns"`
	IsUnique        bool     `json:"isUnique"`
	IsPrimary       bool     `json:"isPrimary"`
	Method          *string  `json:"method,omitempty"`
	Predicate       *string  `json:"predicate,omitempty"`
	TruncatedFields []string `json:"truncatedFields,omitempty"`
	provenanceAttrs
}

type procedureAttrs struct {
	QualifiedName         string     `json:"qualifiedName"`
	Name                  string     `json:"name"`
	RoutineKind           string     `json:"routineKind"`
	DatabaseName          string     `json:"databaseName"`
	SchemaName            string     `json:"schemaName"`
	SchemaQualifiedName   string     `json:"schemaQualifiedName,omitempty"`
	DatabaseQualifiedName string     `json:"databaseQualifiedName,omitempty"`
	Schema                *entityRef `json:"schema,omitempty"`
	Language              *string    `json:"language,omitempty"`
	Arguments             string     `json:"arguments"`
	ReturnType            *string    `json:"returnType,omitempty"`
	Definition            *string    `json:"definition,omitempty"`
	Comment               *string    `json:"comment,omitempty"`
	TruncatedFields       []string   `json:"truncatedFields,omitempty"`
	provenanceAttrs
}

type processAttrs struct {
	QualifiedName string       `json:"qualifiedName"`
	Name          string       `json:"name"`
	Inputs        []*entityRef `json:"inputs"`
	Outputs       []*entityRef `json:"outputs"`
	provenanceAttrs
}

type tableStatsAttrs struct {
	QualifiedName string `json:"qualifiedName"`
	Name          string `json:"name"`
	tableChildAttrs
	RowCount     *int64  `json:"rowCount,omitempty"`
	SizeBytes    *int64  `json:"sizeBytes,omitempty"`
	LastAnalyzed *string `json:"lastAnalyzed,omitempty"`
	provenanceAttrs
}

// entityOf maps row i of a kind's record to its catalog entity.
func entityOf(kind Kind, c *columns, i int) entity {
	p := c.provenance(i)
	prov := provenanceAttrs{JobID: p.JobID, ExtractedAt: jsonTime(p.ExtractedAt)}
	switch kind {
	case KindTombstone:
		return entity{TypeName: assetTypeNames[Kind(c.str("asset_kind", i))], Status: "DELETED", Attributes: tombstoneAttrs{
			QualifiedName: c.str("qualified_name", i), DeleteReason: c.str("reason", i), provenanceAttrs: prov}}
	case KindDatabase:
		r := c.database(i)
		return entity{TypeName: "Database", Attributes: databaseAttrs{QualifiedName: r.QualifiedName, Name: r.Name,
			ConnectionQualifiedName: r.ParentQualifiedName, Owner: r.Owner, Comment: r.Comment,
			TruncatedFields: r.TruncatedFields, provenanceAttrs: prov}}
	case KindSchema:
		r := c.schema(i)
		return entity{TypeName: "Schema", Attributes: schemaAttrs{QualifiedName: r.QualifiedName, Name: r.Name, DatabaseName: r.Database,
			DatabaseQualifiedName: r.ParentQualifiedName, Database: ref("Database", r.ParentQualifiedName),
			Owner: r.Owner, Comment: r.Comment, TruncatedFields: r.TruncatedFields, provenanceAttrs: prov}}
	case KindTable:
		r := c.table(i)
		return entity{TypeName: tableTypeName(r.Kind), Attributes: tableAttrs{QualifiedName: r.QualifiedName, Name: r.Name, TableKind: r.Kind,
			DatabaseName: r.Database, SchemaName: r.Schema,
			SchemaQualifiedName: r.ParentQualifiedName, DatabaseQualifiedName: parentQN(r.ParentQualifiedName),
			Schema: ref("Schema", r.ParentQualifiedName), Owner: r.Owner, Comment: r.Comment,
			CreatedAt: optJSONTime(r.CreatedAt), AlteredAt: optJSONTime(r.AlteredAt),
			PartitionOf: r.PartitionOf, ViewDefinition: r.ViewDefinition, TruncatedFields: r.TruncatedFields, provenanceAttrs: prov}}
	case KindColumn:
		r := c.column(i)
		return entity{TypeName: "Column", Attributes: columnAttrs{QualifiedName: r.QualifiedName, Name: r.Name,
			tableChildAttrs: tableChild(r.Database, r.Schema, r.Table, r.ParentQualifiedName),
			Ordinal:         r.Ordinal, DataType: r.DataType, IsNullable: r.IsNullable, DefaultValue: r.Default,
			IsGenerated: r.IsGenerated, GenerationExpression: r.GenerationExpression,
			IsPrimaryKey: r.IsPrimaryKey, IsForeignKey: r.IsForeignKey, Comment: r.Comment, TruncatedFields: r.TruncatedFields,
			provenanceAttrs: prov}}
	case KindConstraint:
		r := c.constraint(i)
		var refTable *entityRef
		if r.ReferencedTableQN != nil {
			refTable = ref("Table", *r.ReferencedTableQN)
		}
		return entity{TypeName: "Constraint", Attributes: constraintAttrs{QualifiedName: r.QualifiedName, Name: r.Name,
			tableChildAttrs: tableChild(r.Database, r.Schema, r.Table, r.ParentQualifiedName),
			ConstraintType:  r.Type, Columns: r.Columns, ReferencedTableQualifiedName: r.ReferencedTableQN,
			ReferencedTable: refTable, ReferencedColumns: r.ReferencedColumns, CheckClause: r.CheckClause,
			OnUpdate: r.OnUpdate, OnDelete: r.OnDelete, TruncatedFields: r.TruncatedFields, provenanceAttrs: prov}}
	case KindIndex:
		r := c.index(i)
		return entity{TypeName: "Index", Attributes: indexAttrs{QualifiedName: r.QualifiedName, Name: r.Name,
			tableChildAttrs: tableChild(r.Database, r.Schema, r.Table, r.ParentQualifiedName),
			Columns:         r.Columns, IsUnique: r.IsUnique, IsPrimary: r.IsPrimary, Method: r.Method,
			Predicate: r.Predicate, TruncatedFields: r.TruncatedFields, provenanceAttrs: prov}}
	case KindRoutine:
		r := c.routine(i)
		return entity{TypeName: "Procedure", Attributes: procedureAttrs{QualifiedName: r.QualifiedName, Name: r.Name, RoutineKind: r.Kind,
			DatabaseName: r.Database, SchemaName: r.Schema,
			SchemaQualifiedName: r.ParentQualifiedName, DatabaseQualifiedName: parentQN(r.ParentQualifiedName),
			Schema: ref("Schema", r.ParentQualifiedName), Language: r.Language, Arguments: r.Arguments,
			ReturnType: r.ReturnType, Definition: r.Definition, Comment: r.Comment, TruncatedFields: r.TruncatedFields,
			provenanceAttrs: prov}}
	case KindLineage:
		r := c.lineage(i)
		source := UnescapeSegment(lastSegment(r.SourceQN))
		return entity{TypeName: "Process", Attributes: processAttrs{QualifiedName: r.QualifiedName, Name: r.View + " ← " + source,
			Inputs:          []*entityRef{{TypeName: tableTypeName(r.SourceKind), UniqueAttributes: uniqueQNAttrs{r.SourceQN}}},
			Outputs:         []*entityRef{{TypeName: "View", UniqueAttributes: uniqueQNAttrs{r.ParentQualifiedName}}},
			provenanceAttrs: prov}}
	default: // KindTableStats; the schema check admits no other kind
		r := c.tableStats(i)
		return entity{TypeName: "TableStats", Attributes: tableStatsAttrs{QualifiedName: r.QualifiedName, Name: r.Table,
			tableChildAttrs: tableChild(r.Database, r.Schema, r.Table, r.ParentQualifiedName),
			RowCount:        r.RowCount, SizeBytes: r.TotalBytes, LastAnalyzed: optJSONTime(r.LastAnalyzed),
			provenanceAttrs: prov}}
	}
}

// tableTypeName is the catalog type of a table kind; foreign, partitioned
// and partition tables are Tables (their tableKind says which).
func tableTypeName(tableKind string) string {
	switch tableKind {
	case TableKindView:
		return "View"
	case TableKindMaterializedView:
		return "MaterializedView"
	default:
		return "Table"
	}
}

// tableChild derives a table child's parent attributes from the table's
// qualified name. The row does not say the parent's kind, so the reference
// is typed Table.
func tableChild(database, schema, table, tableQN string) tableChildAttrs {
	schemaQN := parentQN(tableQN)
	return tableChildAttrs{DatabaseName: database, SchemaName: schema, TableName: table,
		TableQualifiedName: tableQN, SchemaQualifiedName: schemaQN, DatabaseQualifiedName: parentQN(schemaQN),
		Table: ref("Table", tableQN)}
}

// parentQN drops the last segment. Every segment after the connection is
// escaped and so holds no '/', which makes cutting at the last '/' exact.
func parentQN(qn string) string {
	if i := strings.LastIndexByte(qn, '/'); i > 0 {
		return qn[:i]
	}
	return ""
}

func lastSegment(qn string) string {
	return qn[strings.LastIndexByte(qn, '/')+1:]
}

func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optJSONTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	return Ptr(jsonTime(*t))
}
