package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// dbReader streams one database's catalog into the writer. The rows of a
// table arrive together, so the qualified names and the filter decision of
// the current table are computed once per table, not per row.
type dbReader struct {
	c     *Connector
	tx    pgx.Tx
	db    database
	w     *model.Writer
	st    *connector.Stats
	base  []any // $1..$9, see queries.go
	dbRow bool  // the database row has been written
	// filtered is false when no filter and no schema list is set: nothing
	// to re-check.
	filtered bool
	cur      tableCursor
	curSch   schemaCursor
}

type tableCursor struct {
	schema, table string
	set           bool
	included      bool
	names         model.Names
	qn, parentQN  string
}

type schemaCursor struct {
	schema string
	set    bool
	// selected: the filters keep the schema; included: it is also in
	// Source.Schemas.
	selected, included bool
	qn, parentQN       string
}

func newDBReader(c *Connector, tx pgx.Tx, db database, w *model.Writer, st *connector.Stats) *dbReader {
	p := c.push
	f := c.filters
	return &dbReader{
		c: c, tx: tx, db: db, w: w, st: st,
		base: []any{db.name, p.schemas, p.includeSchemas, p.excludeSchemas, p.includeTables, p.excludeTables, p.tempTables,
			p.tablesFrom, p.tablesBefore},
		filtered: len(f.IncludeSchemas)+len(f.ExcludeSchemas)+len(f.IncludeTables)+len(f.ExcludeTables) > 0 ||
			f.TempTables != nil || c.schemas.Restricted(),
	}
}

// query sends one counted statement.
func (r *dbReader) query(ctx context.Context, what, sql string, args ...any) (pgx.Rows, error) {
	r.st.Queries++
	rows, err := r.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, r.c.readError(what, r.db.name, err)
	}
	return rows, nil
}

// session applies the session settings of sessionSQL to the transaction.
func (r *dbReader) session(ctx context.Context) error {
	rows, err := r.query(ctx, "session settings", sessionSQL, r.c.lockTimeout)
	if err != nil {
		return err
	}
	return r.finish(rows, "session settings", nil)
}

// finish reports a failed scan, write or stream.
func (r *dbReader) finish(rows pgx.Rows, what string, err error) error {
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return r.c.readError(what, r.db.name, err)
	}
	return nil
}

// textChars is the cap of free text in SQL (characters): one more than the
// Writer keeps, so the Writer sees which values were longer.
func (r *dbReader) textChars() int { return textChars(r.w) }

// textChars is the SQL cap of free text for w (see queries.go).
func textChars(w *model.Writer) int { return w.MaxTextBytes() + 1 }

// withArgs appends statement-specific parameters to $1..$n of base.
func (r *dbReader) withArgs(n int, extra ...any) []any {
	args := make([]any, 0, n+len(extra))
	args = append(args, r.base[:n]...)
	return append(args, extra...)
}

// table positions the cursor on schema.table and reports whether the table
// is selected.
func (r *dbReader) table(schema, table string) *tableCursor {
	t := &r.cur
	if t.set && t.schema == schema && t.table == table {
		return t
	}
	t.set, t.schema, t.table = true, schema, table
	t.included = !r.filtered || r.c.schemas.HasTable(schema, table) && r.c.filters.TableIncluded(r.db.name, schema, table)
	t.names = model.Names{Connection: r.c.src.Connection, Database: r.db.name, Schema: schema, Table: table}
	if t.included {
		t.qn = t.names.TableQN()
		t.parentQN = t.names.SchemaQN()
	}
	return t
}

func (r *dbReader) schema(schema string) *schemaCursor {
	s := &r.curSch
	if s.set && s.schema == schema {
		return s
	}
	s.set, s.schema = true, schema
	s.selected = !r.filtered || r.c.filters.SchemaIncluded(r.db.name, schema)
	s.included = s.selected && r.c.schemas.OwnsSchema(schema)
	if s.included {
		n := model.Names{Connection: r.c.src.Connection, Database: r.db.name, Schema: schema}
		s.qn, s.parentQN = n.SchemaQN(), n.DatabaseQN()
	}
	return s
}

// writeDatabase writes the database row once.
func (r *dbReader) writeDatabase() error {
	if r.dbRow {
		return nil
	}
	r.dbRow = true
	return r.w.Database(model.Database{
		QualifiedName:       model.QualifiedName(r.c.src.Connection, r.db.name),
		ParentQualifiedName: r.c.src.Connection,
		Name:                r.db.name,
		Owner:               r.db.owner,
		Comment:             r.db.comment,
	})
}

// textPtr copies a scanned nullable text out of its (reused) scan target.
func textPtr(t pgtype.Text) *string {
	if !t.Valid {
		return nil
	}
	s := t.String
	return &s
}

// textRef points into a reused scan target: valid until the next Scan,
// which is long enough for a Writer call (the Writer copies what it gets).
func textRef(t *pgtype.Text) *string {
	if !t.Valid {
		return nil
	}
	return &t.String
}
