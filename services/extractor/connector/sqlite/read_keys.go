package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/model"
)

// CHECK constraints are in no catalog SQLite exposes (only in the CREATE
// TABLE text, which is not parsed), so none are emitted.
func (c *Connector) readConstraints(ctx context.Context, q *session, w *model.Writer) error {
	return q.each(ctx, stConstraints, qConstraints, func(rows *sql.Rows) error {
		var (
			schema, table, typ, name, colsJSON, refColsJSON string
			refTable, onUpdate, onDelete                    sql.NullString
		)
		if err := rows.Scan(&schema, &table, &typ, &name, &colsJSON, &refTable, &refColsJSON, &onUpdate, &onDelete); err != nil {
			return err
		}
		if !c.tableIncluded(schema, table) {
			return nil
		}
		cols, err := nameList(colsJSON)
		if err != nil {
			return fmt.Errorf("columns of constraint %s on %s.%s: %w", name, schema, table, err)
		}
		refCols, err := nameList(refColsJSON)
		if err != nil {
			return fmt.Errorf("referenced columns of constraint %s on %s.%s: %w", name, schema, table, err)
		}
		n := c.table(schema, table)
		row := model.Constraint{
			QualifiedName: n.ChildQN(name), ParentQualifiedName: n.TableQN(),
			Database: n.Database, Schema: schema, Table: table, Name: name,
			Type: typ, Columns: cols, ReferencedColumns: refCols,
			OnUpdate: nullStr(onUpdate), OnDelete: nullStr(onDelete),
		}
		if refTable.Valid {
			// SQLite foreign keys always point into the child's own schema.
			row.ReferencedTableQN = model.Ptr(c.table(schema, refTable.String).TableQN())
		}
		return w.Constraint(row)
	})
}

func (c *Connector) readIndexes(ctx context.Context, q *session, w *model.Writer) error {
	btree := "btree" // the only index structure SQLite has
	return q.each(ctx, stIndexes, qIndexes, func(rows *sql.Rows) error {
		var (
			schema, table, name, origin, colsJSON string
			unique                                bool
		)
		if err := rows.Scan(&schema, &table, &name, &unique, &origin, &colsJSON); err != nil {
			return err
		}
		if !c.tableIncluded(schema, table) {
			return nil
		}
		cols, err := nameList(colsJSON)
		if err != nil {
			return fmt.Errorf("columns of index %s on %s.%s: %w", name, schema, table, err)
		}
		n := c.table(schema, table)
		// A partial index's WHERE clause is only in its CREATE INDEX text,
		// which is not parsed: predicate stays null.
		return w.Index(model.Index{
			QualifiedName: n.ChildQN(name), ParentQualifiedName: n.TableQN(),
			Database: n.Database, Schema: schema, Table: table, Name: name,
			Columns: cols, IsUnique: unique, IsPrimary: origin == "pk", Method: &btree,
		})
	})
}

func (c *Connector) readStats(ctx context.Context, q *session, w *model.Writer, hasStat1 bool) error {
	query := qStatsNone
	if hasStat1 {
		query = qStatsFromStat1
	}
	return q.each(ctx, stStatistics, query, func(rows *sql.Rows) error {
		var schema, table string
		var count sql.NullInt64
		if err := rows.Scan(&schema, &table, &count); err != nil {
			return err
		}
		if !c.tableIncluded(schema, table) {
			return nil
		}
		n := c.table(schema, table)
		row := model.TableStats{
			QualifiedName: n.TableQN(), ParentQualifiedName: n.TableQN(),
			Database: n.Database, Schema: schema, Table: table,
		}
		if count.Valid {
			row.RowCount = &count.Int64
		}
		return w.TableStats(row)
	})
}

// nameList decodes a JSON array of names built by json_group_array. A
// null element is a name SQLite could not tell (a foreign key to a missing
// table's primary key); a partly known list would be misleading, so the
// whole list is then reported empty.
func nameList(s string) ([]string, error) {
	var raw []*string
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("decode %q: %w", s, err)
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		if v == nil {
			return []string{}, nil
		}
		out = append(out, *v)
	}
	return out, nil
}
