package postgres

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/model"
)

// lineage writes one edge per (view or materialized view, relation it
// reads).
func (r *dbReader) lineage(ctx context.Context) error {
	const what = "view lineage"
	rows, err := r.query(ctx, what, lineageSQL, r.withArgs(9)...)
	if err != nil {
		return err
	}
	var (
		schema, view, srcSchema, srcName string
		srcKind                          byte
		srcIsPartition                   bool
	)
	for rows.Next() {
		if err := rows.Scan(&schema, &view, &srcSchema, &srcName, &srcKind, &srcIsPartition); err != nil {
			return r.finish(rows, what, err)
		}
		t := r.table(schema, view)
		if !t.included {
			continue
		}
		src := model.Names{Connection: r.c.src.Connection, Database: r.db.name, Schema: srcSchema, Table: srcName}
		srcQN := src.TableQN()
		err := r.w.Lineage(model.Lineage{
			QualifiedName: model.LineageQN(t.qn, srcQN), ParentQualifiedName: t.qn,
			Database: r.db.name, Schema: schema, View: view,
			SourceQN: srcQN, SourceKind: tableKind(srcKind, srcIsPartition),
		})
		if err != nil {
			return r.finish(rows, what, err)
		}
	}
	return r.finish(rows, what, nil)
}
