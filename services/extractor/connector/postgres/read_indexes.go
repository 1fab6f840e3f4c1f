package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
)

// indexes writes every index of the selected tables, materialized views
// and partitioned tables.
func (r *dbReader) indexes(ctx context.Context) error {
	const what = "indexes"
	rows, err := r.query(ctx, what, indexesSQL, r.withArgs(9, r.textChars())...)
	if err != nil {
		return err
	}
	var (
		schema, table, name string
		columns             []string
		unique, primary     bool
		method, predicate   pgtype.Text
	)
	for rows.Next() {
		if err := rows.Scan(&schema, &table, &name, &columns, &unique, &primary, &method, &predicate); err != nil {
			return r.finish(rows, what, err)
		}
		t := r.table(schema, table)
		if !t.included {
			continue
		}
		err := r.w.Index(model.Index{
			QualifiedName: t.names.ChildQN(name), ParentQualifiedName: t.qn,
			Database: r.db.name, Schema: schema, Table: table, Name: name,
			Columns: columns, IsUnique: unique, IsPrimary: primary,
			Method: textRef(&method), Predicate: textRef(&predicate),
		})
		if err != nil {
			return r.finish(rows, what, err)
		}
	}
	return r.finish(rows, what, nil)
}
