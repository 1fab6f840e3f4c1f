package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
)

// schemas writes the database row and its schemas. The database row is
// written when one of its schemas is selected, or when no schema filter is
// set (a database without user schemas is still an asset); a database the
// schema filters leave empty is not reported at all.
func (r *dbReader) schemas(ctx context.Context) error {
	const what = "schemas"
	rows, err := r.query(ctx, what, schemasSQL, r.withArgs(3)...)
	if err != nil {
		return err
	}
	var (
		name           string
		owner, comment pgtype.Text
	)
	for rows.Next() {
		if err := rows.Scan(&name, &owner, &comment); err != nil {
			return r.finish(rows, what, err)
		}
		s := r.schema(name)
		if !s.included {
			continue
		}
		if err := r.writeDatabase(); err != nil {
			return r.finish(rows, what, err)
		}
		err := r.w.Schema(model.Schema{
			QualifiedName: s.qn, ParentQualifiedName: s.parentQN,
			Database: r.db.name, Name: name,
			Owner: textRef(&owner), Comment: textRef(&comment),
		})
		if err != nil {
			return r.finish(rows, what, err)
		}
	}
	if err := r.finish(rows, what, nil); err != nil {
		return err
	}
	f := r.c.filters
	if len(f.IncludeSchemas) == 0 && len(f.ExcludeSchemas) == 0 {
		return r.writeDatabase()
	}
	return nil
}
