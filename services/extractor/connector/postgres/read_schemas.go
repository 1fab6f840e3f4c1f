package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// schemas writes the database row and its schemas. The database row is
// written when one of its schemas is selected, or when no schema filter is
// set (a database without user schemas is still an asset); a database the
// schema filters leave empty is not reported at all. With Source.Schemas
// the statement still lists every selected schema (Source.Schemas is not
// pushed down here), so that only the partition holding the database's
// first selected schema writes the database row.
func (r *dbReader) schemas(ctx context.Context) error {
	const what = "schemas"
	args := r.withArgs(4, r.textChars())
	args[1] = []string(nil)
	rows, err := r.query(ctx, what, schemasSQL, args...)
	if err != nil {
		return err
	}
	var (
		name           string
		owner, comment pgtype.Text
		first          connector.FirstName
	)
	restricted := r.c.schemas.Restricted()
	for rows.Next() {
		if err := rows.Scan(&name, &owner, &comment); err != nil {
			return r.finish(rows, what, err)
		}
		s := r.schema(name)
		if !s.selected {
			continue
		}
		first.See(name)
		if !s.included {
			continue
		}
		if !restricted {
			if err := r.writeDatabase(); err != nil {
				return r.finish(rows, what, err)
			}
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
	if restricted {
		if r.c.schemas.OwnsDatabase(first.Name, first.Seen) {
			return r.writeDatabase()
		}
		return nil
	}
	f := r.c.filters
	if len(f.IncludeSchemas) == 0 && len(f.ExcludeSchemas) == 0 {
		return r.writeDatabase()
	}
	return nil
}
