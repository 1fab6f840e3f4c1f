package mysql

import (
	"context"
	"database/sql"

	"github.com/secure-agent/secure-agent/libs/model"
)

var constraintTypes = map[string]string{
	"PRIMARY KEY": model.ConstraintPrimaryKey,
	"UNIQUE":      model.ConstraintUnique,
	"FOREIGN KEY": model.ConstraintForeignKey,
	"CHECK":       model.ConstraintCheck,
}

// checkSelect is the CHECK part of the constraints statement, or "" where
// the engine has no CHECK_CONSTRAINTS. MariaDB names check constraints per
// table and lists the table; MySQL 8 names them per schema and only
// TABLE_CONSTRAINTS knows the table.
func (s scope) checkSelect(info serverInfo, cond *where, chars int) string {
	switch {
	case !info.checkConstraints:
		return ""
	case info.checkHasTableName:
		s.tableFilter(cond, "cc.CONSTRAINT_SCHEMA", "cc.TABLE_NAME")
		return " UNION ALL SELECT cc.CONSTRAINT_SCHEMA, cc.TABLE_NAME, cc.CONSTRAINT_NAME, 'CHECK', 0," +
			" NULL, NULL, NULL, NULL, NULL, NULL, " + textCol("cc.CHECK_CLAUSE", chars) +
			" FROM information_schema.CHECK_CONSTRAINTS cc WHERE " + cond.sql()
	default:
		s.tableFilter(cond, "ct.TABLE_SCHEMA", "ct.TABLE_NAME")
		return " UNION ALL SELECT ct.TABLE_SCHEMA, ct.TABLE_NAME, cc.CONSTRAINT_NAME, 'CHECK', 0," +
			" NULL, NULL, NULL, NULL, NULL, NULL, " + textCol("cc.CHECK_CLAUSE", chars) +
			" FROM information_schema.CHECK_CONSTRAINTS cc JOIN information_schema.TABLE_CONSTRAINTS ct" +
			" ON ct.CONSTRAINT_TYPE = 'CHECK' AND " + sameName("ct.CONSTRAINT_SCHEMA", "cc.CONSTRAINT_SCHEMA") +
			" AND " + sameName("ct.CONSTRAINT_NAME", "cc.CONSTRAINT_NAME") +
			" WHERE " + cond.sql()
	}
}

// readConstraints emits primary key, unique, foreign key and check
// constraints. KEY_COLUMN_USAGE lists exactly the key constraints, one row
// per column: PRIMARY is the primary key, a referenced table makes a
// foreign key, the rest are unique. Rows are ordered so that a
// constraint's columns arrive together and in key order; they are grouped
// while streaming, holding one constraint at a time.
func (s scope) readConstraints(ctx context.Context, q *counter, info serverInfo, w *model.Writer) error {
	var keys, rules, checks where
	s.tableFilter(&keys, "k.TABLE_SCHEMA", "k.TABLE_NAME")
	s.tableFilter(&rules, "CONSTRAINT_SCHEMA", "TABLE_NAME")
	checkPart := s.checkSelect(info, &checks, textChars(w))
	// Referential actions come from a grouped derived table, which MariaDB
	// indexes; see read_columns.go.
	query := "SELECT * FROM (" +
		"SELECT k.TABLE_SCHEMA AS s, k.TABLE_NAME AS t, k.CONSTRAINT_NAME AS n," +
		" CASE WHEN k.CONSTRAINT_NAME = 'PRIMARY' THEN 'PRIMARY KEY' WHEN k.REFERENCED_TABLE_NAME IS NOT NULL THEN 'FOREIGN KEY' ELSE 'UNIQUE' END AS typ," +
		" k.ORDINAL_POSITION AS pos, k.COLUMN_NAME AS col, k.REFERENCED_TABLE_SCHEMA AS rs, k.REFERENCED_TABLE_NAME AS rt," +
		" k.REFERENCED_COLUMN_NAME AS rc, r.upd, r.del, NULL AS chk" +
		" FROM information_schema.KEY_COLUMN_USAGE k" +
		" LEFT JOIN (SELECT CAST(CONSTRAINT_SCHEMA AS BINARY) AS s, CAST(TABLE_NAME AS BINARY) AS t, CAST(CONSTRAINT_NAME AS BINARY) AS n," +
		" MAX(UPDATE_RULE) AS upd, MAX(DELETE_RULE) AS del FROM information_schema.REFERENTIAL_CONSTRAINTS" +
		" WHERE " + rules.sql() + " GROUP BY s, t, n) r" +
		" ON k.REFERENCED_TABLE_NAME IS NOT NULL AND r.s = CAST(k.CONSTRAINT_SCHEMA AS BINARY) AND r.t = CAST(k.TABLE_NAME AS BINARY)" +
		" AND r.n = CAST(k.CONSTRAINT_NAME AS BINARY)" +
		" WHERE " + keys.sql() +
		checkPart +
		") x ORDER BY CAST(s AS BINARY), CAST(t AS BINARY), CAST(n AS BINARY), typ, pos"
	args := append(append(append([]any(nil), rules.args...), keys.args...), checks.args...)

	var cur *model.Constraint
	flush := func() error {
		if cur == nil {
			return nil
		}
		err := w.Constraint(*cur)
		cur = nil
		return err
	}
	err := q.each(ctx, stConstraints, query, args, func(rows *sql.Rows) error {
		var (
			schema, table, name, typ         string
			pos                              int64
			col, refSchema, refTable, refCol sql.NullString
			onUpdate, onDelete, check        sql.NullString
		)
		if err := rows.Scan(&schema, &table, &name, &typ, &pos, &col, &refSchema, &refTable, &refCol,
			&onUpdate, &onDelete, &check); err != nil {
			return err
		}
		if !s.tableIncluded(schema, table) {
			return nil
		}
		kind := constraintTypes[typ]
		if cur == nil || cur.Schema != schema || cur.Table != table || cur.Name != name || cur.Type != kind {
			if err := flush(); err != nil {
				return err
			}
			n := s.names(schema, table)
			cur = &model.Constraint{
				QualifiedName: n.ChildQN(name), ParentQualifiedName: n.TableQN(),
				Database: DatabaseName, Schema: schema, Table: table, Name: name, Type: kind,
				CheckClause: str(check), OnUpdate: str(onUpdate), OnDelete: str(onDelete),
			}
			if refTable.Valid {
				ref := s.names(refSchema.String, refTable.String).TableQN()
				cur.ReferencedTableQN = &ref
			}
		}
		if col.Valid {
			cur.Columns = append(cur.Columns, col.String)
		}
		if refCol.Valid {
			cur.ReferencedColumns = append(cur.ReferencedColumns, refCol.String)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
