package demo

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// loader inserts seed rows. The first error stops all further work and is
// returned by done, which keeps the seed code a plain list of rows.
type loader struct {
	ctx   context.Context
	tx    *sql.Tx
	rng   *rand.Rand
	err   error
	stmts []*sql.Stmt
}

// seedValue fixes the random sequence: the same file on every run.
const seedValue = 20240101

// epoch is the demo's "beginning of business"; every timestamp is an
// offset from it (never the clock), again for identical output.
var epoch = time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)

func newLoader(ctx context.Context, tx *sql.Tx) *loader {
	return &loader{ctx: ctx, tx: tx, rng: rand.New(rand.NewPCG(seedValue, seedValue))}
}

// inserter adds rows to one table.
type inserter struct {
	l     *loader
	stmt  *sql.Stmt
	table string
}

// into prepares an INSERT for table and its columns (constants of the seed
// code, not input).
func (l *loader) into(table, columns string) *inserter {
	ins := &inserter{l: l, table: table}
	if l.err != nil {
		return ins
	}
	n := len(strings.Split(columns, ","))
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, columns, strings.TrimSuffix(strings.Repeat("?, ", n), ", "))
	ins.stmt, l.err = l.tx.PrepareContext(l.ctx, q)
	if ins.stmt != nil {
		l.stmts = append(l.stmts, ins.stmt)
	}
	return ins
}

func (ins *inserter) row(values ...any) {
	if ins.l.err != nil {
		return
	}
	if _, err := ins.stmt.ExecContext(ins.l.ctx, values...); err != nil {
		ins.l.err = fmt.Errorf("insert into %s %v: %w", ins.table, values, err)
	}
}

func (l *loader) done() error {
	for _, s := range l.stmts {
		s.Close()
	}
	return l.err
}

// intn is a number in [lo, hi].
func (l *loader) intn(lo, hi int) int { return lo + l.rng.IntN(hi-lo+1) }

// chance is true with probability p.
func (l *loader) chance(p float64) bool { return l.rng.Float64() < p }

func pick[T any](l *loader, xs []T) T { return xs[l.rng.IntN(len(xs))] }

// money rounds to cents.
func money(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func day(d int) string { return epoch.AddDate(0, 0, d).Format(time.DateOnly) }

func at(t time.Time) string { return t.Format("2006-01-02T15:04:05") }

// minutes is a random time of the business day.
func minutes(l *loader) time.Duration { return time.Duration(l.intn(0, 12*60)) * time.Minute }
