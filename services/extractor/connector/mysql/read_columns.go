package mysql

import (
	"context"
	"database/sql"

	"github.com/secure-agent/secure-agent/libs/model"
)

// readColumns emits the columns of included tables and views. The PK and FK
// flags come from KEY_COLUMN_USAGE grouped per column in SQL (COLUMN_KEY
// would call a UNIQUE NOT NULL index "PRI" on a table without a primary key).
// Column names compare case-insensitively, as MySQL does.
func (s scope) readColumns(ctx context.Context, q *counter, info serverInfo, w *model.Writer) error {
	var tables, keys, cond where
	s.tableFilter(&tables, "TABLE_SCHEMA", "TABLE_NAME")
	s.tableFilter(&keys, "TABLE_SCHEMA", "TABLE_NAME")
	s.tableFilter(&cond, "c.TABLE_SCHEMA", "c.TABLE_NAME")
	// The joined sides are grouped derived tables: MariaDB indexes those
	// (derived keys), while a plain information_schema table would be
	// joined by nested loops, which grows with columns × tables.
	chars := textChars(w)
	query := "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.ORDINAL_POSITION, " + textCol("c.COLUMN_TYPE", chars) + ", c.IS_NULLABLE, " +
		textCol("c.COLUMN_DEFAULT", chars) + ", " + textCol("c.GENERATION_EXPRESSION", chars) + ", " + textCol("c.COLUMN_COMMENT", chars) +
		", COALESCE(k.is_pk, 0), COALESCE(k.is_fk, 0)" +
		" FROM information_schema.COLUMNS c" +
		" JOIN (SELECT CAST(TABLE_SCHEMA AS BINARY) AS s, CAST(TABLE_NAME AS BINARY) AS t FROM information_schema.TABLES" +
		" WHERE TABLE_TYPE IN " + tableTypes + " AND " + tables.sql() + " GROUP BY s, t) t" +
		" ON t.s = CAST(c.TABLE_SCHEMA AS BINARY) AND t.t = CAST(c.TABLE_NAME AS BINARY)" +
		" LEFT JOIN (SELECT CAST(TABLE_SCHEMA AS BINARY) AS s, CAST(TABLE_NAME AS BINARY) AS t, COLUMN_NAME AS c," +
		" MAX(CONSTRAINT_NAME = 'PRIMARY') AS is_pk, MAX(REFERENCED_TABLE_NAME IS NOT NULL) AS is_fk" +
		" FROM information_schema.KEY_COLUMN_USAGE WHERE " + keys.sql() + " GROUP BY s, t, c) k" +
		" ON k.s = CAST(c.TABLE_SCHEMA AS BINARY) AND k.t = CAST(c.TABLE_NAME AS BINARY) AND k.c = c.COLUMN_NAME" +
		" WHERE " + cond.sql()
	args := append(append(append([]any(nil), tables.args...), keys.args...), cond.args...)

	return q.each(ctx, stColumns, query, args, func(rows *sql.Rows) error {
		var (
			schema, table, name, typ, nullable string
			ordinal                            int32
			def, gen, comment                  sql.NullString
			isPK, isFK                         bool
		)
		if err := rows.Scan(&schema, &table, &name, &ordinal, &typ, &nullable, &def, &gen, &comment, &isPK, &isFK); err != nil {
			return err
		}
		if !s.tableIncluded(schema, table) {
			return nil
		}
		n := s.names(schema, table)
		generation := str(gen)
		var dflt *string
		// MariaDB writes an explicit NULL default as the text NULL (and a
		// string 'NULL' quoted); an empty string is a real default.
		if def.Valid && !(info.version.mariaDB && def.String == "NULL") {
			dflt = &def.String
		}
		return w.Column(model.Column{
			QualifiedName: n.ChildQN(name), ParentQualifiedName: n.TableQN(),
			Database: DatabaseName, Schema: schema, Table: table, Name: name,
			Ordinal: ordinal, DataType: typ, IsNullable: nullable == "YES",
			Default: dflt, IsGenerated: generation != nil, GenerationExpression: generation,
			IsPrimaryKey: isPK, IsForeignKey: isFK, Comment: str(comment),
		})
	})
}
