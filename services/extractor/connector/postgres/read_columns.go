package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
)

// columns writes every column of the selected tables, with key flags
// computed in SQL.
func (r *dbReader) columns(ctx context.Context) error {
	const what = "columns"
	rows, err := r.query(ctx, what, columnsSQL, r.withArgs(9, r.c.wantExprs, r.textChars())...)
	if err != nil {
		return err
	}
	var (
		schema, table, name, dataType string
		ordinal                       int16
		notNull, generated, pk, fk    bool
		expr, comment                 pgtype.Text
		col                           model.Column
	)
	for rows.Next() {
		err := rows.Scan(&schema, &table, &name, &ordinal, &dataType, &notNull, &generated, &expr, &pk, &fk, &comment)
		if err != nil {
			return r.finish(rows, what, err)
		}
		t := r.table(schema, table)
		if !t.included {
			continue
		}
		col = model.Column{
			QualifiedName: t.names.ChildQN(name), ParentQualifiedName: t.qn,
			Database: r.db.name, Schema: schema, Table: table, Name: name,
			Ordinal: int32(ordinal), DataType: dataType, IsNullable: !notNull,
			IsGenerated: generated, IsPrimaryKey: pk, IsForeignKey: fk,
			Comment: textRef(&comment),
		}
		// pg_attrdef holds a default or, for a generated column, its
		// expression.
		if generated {
			col.GenerationExpression = textRef(&expr)
		} else {
			col.Default = textRef(&expr)
		}
		if err := r.w.Column(col); err != nil {
			return r.finish(rows, what, err)
		}
	}
	return r.finish(rows, what, nil)
}
