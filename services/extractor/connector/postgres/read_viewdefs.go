package postgres

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/secret"
)

// viewDefs streams one database's view definitions beside the tables
// statement, ViewDefChunk views per short transaction on a connection of
// its own, each importing the extraction's snapshot (see queries.go). The
// tables statement asks for the definition of each view it reaches, in
// its order, so at most one row is held here.
type viewDefs struct {
	r        *dbReader
	conn     *pgx.Conn
	snapshot string
	tx       pgx.Tx
	rows     pgx.Rows
	inChunk  int // rows read in the open chunk
	// schema and name of the last row read: the next chunk starts after it.
	schema, name string
	def          pgtype.Text
	read         bool // a row has been read
}

// snapshotIDPattern is what pg_export_snapshot returns (for example
// 00000003-0000001B-1); SET TRANSACTION SNAPSHOT takes a literal, never a
// parameter, so the id is checked before it is quoted.
var snapshotIDPattern = regexp.MustCompile(`^[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+$`)

// openViewDefs exports the snapshot of the reader's transaction and
// connects the second connection; nil when the job excludes
// view_definition.
func (r *dbReader) openViewDefs(ctx context.Context, password secret.Value) (*viewDefs, error) {
	if !r.c.wantViewDefs {
		return nil, nil
	}
	const what = "the snapshot for view definitions"
	rows, err := r.query(ctx, what, exportSnapshotSQL)
	if err != nil {
		return nil, err
	}
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return nil, r.finish(rows, what, err)
		}
	}
	if err := r.finish(rows, what, nil); err != nil {
		return nil, err
	}
	if !snapshotIDPattern.MatchString(id) {
		return nil, fmt.Errorf("PostgreSQL at %s exported snapshot %q, which is not a snapshot id", r.c.server(), id)
	}
	conn, err := r.c.dialSession(ctx, password, r.db.name)
	if err != nil {
		return nil, err
	}
	return &viewDefs{r: r, conn: conn, snapshot: id}, nil
}

// definition returns the definition of view schema.name, the next view
// in the tables statement's order; the pointer is valid until the next
// call.
func (v *viewDefs) definition(ctx context.Context, schema, name string) (*string, error) {
	for {
		if v.rows == nil {
			if err := v.openChunk(ctx); err != nil {
				return nil, err
			}
		}
		if v.rows.Next() {
			v.inChunk++
			if err := v.rows.Scan(&v.schema, &v.name, &v.def); err != nil {
				return nil, v.fail(err)
			}
			v.read = true
			if v.schema != schema || v.name != name {
				return nil, fmt.Errorf("read the view definitions of database %s: the chunked read returned %s.%s where the tables statement has %s.%s; both read the same snapshot in the same order, so this is a bug: please report it",
					v.r.db.name, v.schema, v.name, schema, name)
			}
			return textRef(&v.def), nil
		}
		full := v.inChunk == ViewDefChunk
		if err := v.closeChunk(ctx); err != nil {
			return nil, err
		}
		if !full {
			return nil, fmt.Errorf("read the view definitions of database %s: view %s.%s is in the tables statement but not in the chunked read of the same snapshot; this is a bug: please report it",
				v.r.db.name, schema, name)
		}
	}
}

// openChunk starts a transaction on the extraction's snapshot and the
// statement reading the next ViewDefChunk definitions.
func (v *viewDefs) openChunk(ctx context.Context) error {
	const what = "view definitions"
	st := v.r.st
	st.Queries++
	tx, err := v.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return v.r.c.readError(what, v.r.db.name, err)
	}
	v.tx = tx
	st.Queries++
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+v.snapshot+"'"); err != nil {
		return v.r.c.readError(what, v.r.db.name, err)
	}
	var after, afterName *string
	if v.read {
		after, afterName = &v.schema, &v.name
	}
	st.Queries++
	rows, err := tx.Query(ctx, viewDefsSQL, v.r.withArgs(9, v.r.textChars(), after, afterName, ViewDefChunk)...)
	if err != nil {
		return v.r.c.readError(what, v.r.db.name, err)
	}
	v.rows, v.inChunk = rows, 0
	return nil
}

// closeChunk ends the open chunk's statement and transaction, which
// releases the locks pg_get_viewdef took.
func (v *viewDefs) closeChunk(ctx context.Context) error {
	const what = "view definitions"
	v.rows.Close()
	err := v.rows.Err()
	v.rows = nil
	if err != nil {
		return v.fail(err)
	}
	v.r.st.Queries++
	tx := v.tx
	v.tx = nil
	if err := tx.Commit(ctx); err != nil {
		return v.r.c.readError(what, v.r.db.name, err)
	}
	return nil
}

func (v *viewDefs) fail(err error) error {
	if v.rows != nil {
		v.rows.Close()
	}
	return v.r.c.readError("view definitions", v.r.db.name, err)
}

// close ends an open chunk (a read that stopped early) and disconnects.
func (v *viewDefs) close(ctx context.Context) {
	if v == nil {
		return
	}
	if v.rows != nil {
		v.rows.Close()
		v.rows = nil
	}
	if v.tx != nil {
		_ = v.tx.Rollback(context.WithoutCancel(ctx))
		v.tx = nil
	}
	closeConn(ctx, v.conn)
}

// finish reads the end of the view definitions after the tables
// statement's last row: one more chunk when the last one was full (or
// none was needed), and it must hold no view the tables statement lacks.
func (v *viewDefs) finish(ctx context.Context) error {
	if v == nil {
		return nil
	}
	if v.rows == nil {
		if v.read && v.inChunk < ViewDefChunk {
			return nil // the last chunk was short and is closed
		}
		if err := v.openChunk(ctx); err != nil {
			return err
		}
	}
	if v.rows.Next() {
		var schema, name string
		_ = v.rows.Scan(&schema, &name, &v.def)
		v.rows.Close()
		return fmt.Errorf("read the view definitions of database %s: the chunked read returned view %s.%s, which the tables statement of the same snapshot lacks; this is a bug: please report it",
			v.r.db.name, schema, name)
	}
	return v.closeChunk(ctx)
}
