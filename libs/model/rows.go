package model

import "time"

// Row types connectors produce. Pointer fields are nullable. QualifiedName
// and ParentQualifiedName are the connector's to set (see qualname.go);
// job_id and extracted_at are set by the Writer. TruncatedFields is set
// by the Writer too; a caller lists fields only for a row whose text was
// cut before it (a row read back from a file).

type Database struct {
	QualifiedName, ParentQualifiedName string
	Name                               string
	Owner, Comment                     *string
	TruncatedFields                    []string // text fields cut at MaxTextBytes; the Writer adds those it cuts
}

type Schema struct {
	QualifiedName, ParentQualifiedName string
	Database, Name                     string
	Owner, Comment                     *string
	TruncatedFields                    []string // text fields cut at MaxTextBytes; the Writer adds those it cuts
}

type Table struct {
	QualifiedName, ParentQualifiedName string
	Database, Schema, Name             string
	Kind                               string // TableKind*
	Owner, Comment                     *string
	CreatedAt, AlteredAt               *time.Time
	PartitionOf                        *string // qualified name of the parent partitioned table
	ViewDefinition                     *string
	TruncatedFields                    []string // text fields cut at MaxTextBytes; the Writer adds those it cuts
}

type Column struct {
	QualifiedName, ParentQualifiedName string
	Database, Schema, Table, Name      string
	Ordinal                            int32
	DataType                           string
	IsNullable                         bool
	Default                            *string
	IsGenerated                        bool
	GenerationExpression               *string
	IsPrimaryKey, IsForeignKey         bool
	Comment                            *string
	TruncatedFields                    []string // text fields cut at MaxTextBytes; the Writer adds those it cuts
}

type Constraint struct {
	QualifiedName, ParentQualifiedName string
	Database, Schema, Table, Name      string
	Type                               string // Constraint*
	Columns                            []string
	ReferencedTableQN                  *string
	ReferencedColumns                  []string
	CheckClause                        *string
	OnUpdate, OnDelete                 *string
	TruncatedFields                    []string // text fields cut at MaxTextBytes; the Writer adds those it cuts
}

type Index struct {
	QualifiedName, ParentQualifiedName string
	Database, Schema, Table, Name      string
	Columns                            []string
	IsUnique, IsPrimary                bool
	Method                             *string
	Predicate                          *string
	TruncatedFields                    []string // text fields cut at MaxTextBytes; the Writer adds those it cuts
}

type Routine struct {
	QualifiedName, ParentQualifiedName string
	Database, Schema, Name             string
	Kind                               string // Routine*
	Language                           *string
	Arguments                          string
	ReturnType                         *string
	Definition                         *string
	Comment                            *string
	TruncatedFields                    []string // text fields cut at MaxTextBytes; the Writer adds those it cuts
}

// Lineage is one edge: the view (parent) reads from the source.
type Lineage struct {
	QualifiedName, ParentQualifiedName string
	Database, Schema, View             string
	SourceQN                           string
	SourceKind                         string // TableKind* of the source
}

// TableStats are a table's statistics: QualifiedName and
// ParentQualifiedName are both the table's qualified name.
type TableStats struct {
	QualifiedName, ParentQualifiedName string
	Database, Schema, Table            string
	RowCount, TotalBytes               *int64
	LastAnalyzed                       *time.Time
}

// Tombstone names an asset a run found deleted; ParentQualifiedName is
// the deleted asset's parent.
type Tombstone struct {
	QualifiedName, ParentQualifiedName string
	AssetKind                          Kind
	Reason                             string // Reason*
}

// Ptr returns a pointer to v; for building rows in connectors and tests.
func Ptr[T any](v T) *T { return &v }
