package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Extract streams every selected database's catalog into w with
// QueriesFixed + QueriesPerDatabase × (databases extracted) statements.
func (c *Connector) Extract(ctx context.Context, w *model.Writer) (connector.Stats, error) {
	start := time.Now()
	var st connector.Stats
	password, err := c.password(ctx)
	if err != nil {
		return st, err
	}
	main, err := c.dial(ctx, password, c.cfg.Database)
	if err != nil {
		return st, err
	}
	defer closeConn(ctx, main)

	dbs, err := c.listDatabases(ctx, main, &st, textChars(w))
	if err != nil {
		return st, err
	}
	dbs, err = c.selectDatabases(dbs)
	if err != nil {
		return st, err
	}
	for _, db := range dbs {
		if err := c.extractDatabase(ctx, main, password, db, w, &st); err != nil {
			return st, err
		}
	}
	if err := w.Flush(); err != nil {
		return st, err
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// extractDatabase runs the per-database statements in one read-only
// repeatable-read transaction, on the listing connection when it is
// already in that database.
func (c *Connector) extractDatabase(ctx context.Context, main *pgx.Conn, password secret.Value, db database, w *model.Writer, st *connector.Stats) error {
	conn := main
	if db.name != c.cfg.Database {
		var err error
		if conn, err = c.dial(ctx, password, db.name); err != nil {
			if c.droppedMeanwhile(err) {
				return nil
			}
			return err
		}
		defer closeConn(ctx, conn)
	}
	st.Queries++
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return c.readError("a snapshot", db.name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	r := newDBReader(c, tx, db, w, st)
	steps := []func(context.Context) error{
		r.session, r.schemas, r.columns, r.constraints, r.indexes, r.routines, r.lineage,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	views, err := r.openViewDefs(ctx, password)
	if err != nil {
		return err
	}
	defer views.close(ctx)
	if err := r.tables(ctx, views); err != nil {
		return err
	}
	if err := views.finish(ctx); err != nil {
		return err
	}
	st.Queries++
	if err := tx.Commit(ctx); err != nil {
		return c.readError("a snapshot", db.name, err)
	}
	return nil
}
