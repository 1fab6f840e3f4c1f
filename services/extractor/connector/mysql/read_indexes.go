package mysql

import (
	"context"
	"database/sql"
	"strings"

	"github.com/secure-agent/secure-agent/libs/model"
)

// readIndexes emits the indexes of included tables. STATISTICS has one row
// per index column; rows are ordered so an index's columns arrive together
// in key order and are grouped while streaming. A functional index part
// (MySQL 8) is listed by its expression.
func (s scope) readIndexes(ctx context.Context, q *counter, info serverInfo, w *model.Writer) error {
	var cond where
	s.tableFilter(&cond, "TABLE_SCHEMA", "TABLE_NAME")
	expr := "NULL"
	if info.indexExpression {
		expr = textCol("EXPRESSION", textChars(w))
	}
	query := "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, " + expr + ", INDEX_TYPE" +
		" FROM information_schema.STATISTICS WHERE " + cond.sql() +
		" ORDER BY CAST(TABLE_SCHEMA AS BINARY), CAST(TABLE_NAME AS BINARY), CAST(INDEX_NAME AS BINARY), SEQ_IN_INDEX"

	var cur *model.Index
	flush := func() error {
		if cur == nil {
			return nil
		}
		err := w.Index(*cur)
		cur = nil
		return err
	}
	err := q.each(ctx, stIndexes, query, cond.args, func(rows *sql.Rows) error {
		var (
			schema, table, name string
			nonUnique           int64
			col, expression     sql.NullString
			method              sql.NullString
		)
		if err := rows.Scan(&schema, &table, &name, &nonUnique, &col, &expression, &method); err != nil {
			return err
		}
		if !s.tableIncluded(schema, table) {
			return nil
		}
		if cur == nil || cur.Schema != schema || cur.Table != table || cur.Name != name {
			if err := flush(); err != nil {
				return err
			}
			n := s.names(schema, table)
			cur = &model.Index{
				QualifiedName: n.ChildQN(name), ParentQualifiedName: n.TableQN(),
				Database: DatabaseName, Schema: schema, Table: table, Name: name,
				IsUnique: nonUnique == 0, IsPrimary: name == "PRIMARY",
			}
			if m := strings.ToLower(method.String); m != "" {
				cur.Method = &m
			}
		}
		switch {
		case col.Valid:
			cur.Columns = append(cur.Columns, col.String)
		case expression.Valid:
			cur.Columns = append(cur.Columns, expression.String)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
