package model

import "fmt"

// One method per kind; each appends fields in the order of kindDefs.

func (w *Writer) Database(r Database) error {
	a, err := w.begin(KindDatabase, r.QualifiedName, r.ParentQualifiedName, r.TruncatedFields)
	if err != nil {
		return err
	}
	a.str(r.Name)
	a.optStr(r.Owner)
	a.optStr(r.Comment)
	a.truncatedFields()
	return w.end(a)
}

func (w *Writer) Schema(r Schema) error {
	a, err := w.begin(KindSchema, r.QualifiedName, r.ParentQualifiedName, r.TruncatedFields)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Name)
	a.optStr(r.Owner)
	a.optStr(r.Comment)
	a.truncatedFields()
	return w.end(a)
}

func (w *Writer) Table(r Table) error {
	a, err := w.begin(KindTable, r.QualifiedName, r.ParentQualifiedName, r.TruncatedFields)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Schema)
	a.str(r.Name)
	a.str(r.Kind)
	a.optStr(r.Owner)
	a.optStr(r.Comment)
	a.optTime(r.CreatedAt)
	a.optTime(r.AlteredAt)
	a.optStr(r.PartitionOf)
	a.optStr(r.ViewDefinition)
	a.truncatedFields()
	return w.end(a)
}

func (w *Writer) Column(r Column) error {
	a, err := w.begin(KindColumn, r.QualifiedName, r.ParentQualifiedName, r.TruncatedFields)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Schema)
	a.str(r.Table)
	a.str(r.Name)
	a.i32(r.Ordinal)
	a.str(r.DataType)
	a.boolean(r.IsNullable)
	a.optStr(r.Default)
	a.boolean(r.IsGenerated)
	a.optStr(r.GenerationExpression)
	a.boolean(r.IsPrimaryKey)
	a.boolean(r.IsForeignKey)
	a.optStr(r.Comment)
	a.truncatedFields()
	return w.end(a)
}

func (w *Writer) Constraint(r Constraint) error {
	a, err := w.begin(KindConstraint, r.QualifiedName, r.ParentQualifiedName, r.TruncatedFields)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Schema)
	a.str(r.Table)
	a.str(r.Name)
	a.str(r.Type)
	a.strs(r.Columns)
	a.optStr(r.ReferencedTableQN)
	a.strs(r.ReferencedColumns)
	a.optStr(r.CheckClause)
	a.optStr(r.OnUpdate)
	a.optStr(r.OnDelete)
	a.truncatedFields()
	return w.end(a)
}

func (w *Writer) Index(r Index) error {
	a, err := w.begin(KindIndex, r.QualifiedName, r.ParentQualifiedName, r.TruncatedFields)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Schema)
	a.str(r.Table)
	a.str(r.Name)
	a.strs(r.Columns)
	a.boolean(r.IsUnique)
	a.boolean(r.IsPrimary)
	a.optStr(r.Method)
	a.optStr(r.Predicate)
	a.truncatedFields()
	return w.end(a)
}

func (w *Writer) Routine(r Routine) error {
	a, err := w.begin(KindRoutine, r.QualifiedName, r.ParentQualifiedName, r.TruncatedFields)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Schema)
	a.str(r.Name)
	a.str(r.Kind)
	a.optStr(r.Language)
	a.str(r.Arguments)
	a.optStr(r.ReturnType)
	a.optStr(r.Definition)
	a.optStr(r.Comment)
	a.truncatedFields()
	return w.end(a)
}

func (w *Writer) Lineage(r Lineage) error {
	a, err := w.begin(KindLineage, r.QualifiedName, r.ParentQualifiedName, nil)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Schema)
	a.str(r.View)
	a.str(r.SourceQN)
	a.str(r.SourceKind)
	return w.end(a)
}

func (w *Writer) TableStats(r TableStats) error {
	a, err := w.begin(KindTableStats, r.QualifiedName, r.ParentQualifiedName, nil)
	if err != nil {
		return err
	}
	a.str(r.Database)
	a.str(r.Schema)
	a.str(r.Table)
	a.optI64(r.RowCount)
	a.optI64(r.TotalBytes)
	a.optTime(r.LastAnalyzed)
	return w.end(a)
}

// Tombstone writes a tombstone: r.AssetKind's asset r.QualifiedName is
// deleted, for r.Reason.
func (w *Writer) Tombstone(r Tombstone) error {
	if _, err := ParseAssetKind(string(r.AssetKind)); err != nil {
		return fmt.Errorf("model: tombstone %s: %w", r.QualifiedName, err)
	}
	switch r.Reason {
	case ReasonDropped, ReasonExcluded, ReasonNotVisible:
	default:
		return fmt.Errorf("model: tombstone %s: reason %q is not %s, %s or %s", r.QualifiedName, r.Reason, ReasonDropped, ReasonExcluded, ReasonNotVisible)
	}
	a, err := w.begin(KindTombstone, r.QualifiedName, r.ParentQualifiedName, nil)
	if err != nil {
		return err
	}
	a.str(string(r.AssetKind))
	a.str(r.Reason)
	return w.end(a)
}
