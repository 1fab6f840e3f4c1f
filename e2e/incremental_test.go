package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/e2e/controlplane"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// incrSeed is the property test's seed: INCR_SEED replays a failing one.
func incrSeed(t *testing.T) uint64 {
	if v := os.Getenv("INCR_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "INCR_SEED must be a whole number")
		return n
	}
	return uint64(time.Now().UnixNano())
}

// ddlSource is one engine of the property test: a database to change and
// the job spec and agentctl arguments that read it.
type ddlSource struct {
	name    string
	conn    string
	spec    map[string]any
	extract []string                // agentctl extract arguments for a whole extraction
	exec    func(stmt string) error // runs one DDL statement
	setup   string                  // creates the schema the steps start in
	next    func(rng *rand.Rand, m *ddlModel) (string, func())
}

// ddlModel is what the generator believes the source holds; a statement
// that fails (the belief was wrong) is skipped.
type ddlModel struct {
	n       int
	schemas []string                 // the first is never dropped
	tables  map[string][]*modelTable // by schema
}

type modelTable struct {
	name        string
	cols        []modelCol
	views       []string
	indexes     []string
	constraints []modelConstraint
}

type modelCol struct{ name, typ string }

type modelConstraint struct{ name, kind string }

func (m *ddlModel) fresh(prefix string) string {
	m.n++
	return fmt.Sprintf("%s_%d", prefix, m.n)
}

// pick returns a random element, and false for an empty slice.
func pick[T any](rng *rand.Rand, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[rng.IntN(len(xs))], true
}

func (m *ddlModel) allTables() [][2]string {
	var out [][2]string
	for _, s := range m.schemas {
		for _, t := range m.tables[s] {
			out = append(out, [2]string{s, t.name})
		}
	}
	return out
}

func (m *ddlModel) table(s, name string) *modelTable {
	for _, t := range m.tables[s] {
		if t.name == name {
			return t
		}
	}
	return nil
}

func (m *ddlModel) dropTable(s, name string) {
	m.tables[s] = slices.DeleteFunc(m.tables[s], func(t *modelTable) bool { return t.name == name })
}

// dialect is how one engine writes each step.
type dialect struct {
	q            func(names ...string) string // a quoted, qualified name
	createSchema func(s string) string
	dropSchema   func(s string) string
	renameTable  func(s, from, to string) string
	renameColumn func(s, t, from, to string) string
	changeType   func(s, t string, c modelCol, to string) string
	commentTable func(s, t, text string) string
	commentCol   func(s, t string, c modelCol, text string) string
	dropIndex    func(s, t, i string) string
	dropCons     func(s, t string, c modelConstraint) string
	types        []string // column types; the first two toggle with each other, as do the last two
	def          map[string]string
}

// generator turns a dialect into a step generator over the model.
func generator(d dialect) func(rng *rand.Rand, m *ddlModel) (string, func()) {
	return func(rng *rand.Rand, m *ddlModel) (string, func()) {
		tables := m.allTables()
		st, haveTable := pick(rng, tables)
		var tb *modelTable
		if haveTable {
			tb = m.table(st[0], st[1])
		}
		switch op := rng.IntN(17); {
		case op == 0 && len(m.schemas) < 4:
			s := m.fresh("s")
			return d.createSchema(s), func() { m.schemas = append(m.schemas, s) }
		case op == 1 && len(m.schemas) > 1:
			s := m.schemas[1+rng.IntN(len(m.schemas)-1)]
			return d.dropSchema(s), func() {
				m.schemas = slices.DeleteFunc(m.schemas, func(x string) bool { return x == s })
				delete(m.tables, s)
			}
		case op <= 3 || !haveTable:
			s, _ := pick(rng, m.schemas)
			name := m.fresh("t")
			c := modelCol{m.fresh("c"), d.types[rng.IntN(len(d.types))]}
			stmt := fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, %s %s)", d.q(s, name), d.q(c.name), c.typ)
			return stmt, func() {
				m.tables[s] = append(m.tables[s], &modelTable{name: name, cols: []modelCol{{"id", "int"}, c}})
			}
		case op == 4:
			return "DROP TABLE " + d.q(st[0], st[1]) + " CASCADE", func() { m.dropTable(st[0], st[1]) }
		case op == 5:
			to := m.fresh("t")
			return d.renameTable(st[0], st[1], to), func() { tb.name = to }
		case op == 6:
			c := modelCol{m.fresh("c"), d.types[rng.IntN(len(d.types))]}
			return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", d.q(st[0], st[1]), d.q(c.name), c.typ), func() { tb.cols = append(tb.cols, c) }
		case op == 7 && len(tb.cols) > 2:
			c := tb.cols[2+rng.IntN(len(tb.cols)-2)]
			return fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", d.q(st[0], st[1]), d.q(c.name)), func() {
				tb.cols = slices.DeleteFunc(tb.cols, func(x modelCol) bool { return x.name == c.name })
			}
		case op == 8 && len(tb.cols) > 1:
			i := 1 + rng.IntN(len(tb.cols)-1)
			to := m.fresh("c")
			return d.renameColumn(st[0], st[1], tb.cols[i].name, to), func() { tb.cols[i].name = to }
		case op == 9 && len(tb.cols) > 1:
			i := 1 + rng.IntN(len(tb.cols)-1)
			c := tb.cols[i]
			k := slices.Index(d.types, c.typ)
			to := d.types[k^1]
			return d.changeType(st[0], st[1], c, to), func() { tb.cols[i].typ = to }
		case op == 10 && len(tb.cols) > 1:
			c := tb.cols[1+rng.IntN(len(tb.cols)-1)]
			if rng.IntN(2) == 0 {
				return fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", d.q(st[0], st[1]), d.q(c.name)), func() {}
			}
			return fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", d.q(st[0], st[1]), d.q(c.name), d.def[c.typ]), func() {}
		case op == 11:
			return d.commentTable(st[0], st[1], m.fresh("comment")), func() {}
		case op == 12 && len(tb.cols) > 1:
			return d.commentCol(st[0], st[1], tb.cols[1+rng.IntN(len(tb.cols)-1)], m.fresh("comment")), func() {}
		case op == 13:
			// A unique, check or foreign key constraint.
			name := m.fresh("k")
			switch rng.IntN(3) {
			case 0:
				c, _ := pick(rng, tb.cols)
				return fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE (%s)", d.q(st[0], st[1]), d.q(name), d.q(c.name)),
					func() { tb.constraints = append(tb.constraints, modelConstraint{name, "unique"}) }
			case 1:
				return fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (id > %d)", d.q(st[0], st[1]), d.q(name), -rng.IntN(100)),
					func() { tb.constraints = append(tb.constraints, modelConstraint{name, "check"}) }
			default:
				ref, _ := pick(rng, tables)
				col := modelCol{m.fresh("r"), "int"}
				return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s int, ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (id)",
						d.q(st[0], st[1]), d.q(col.name), d.q(name), d.q(col.name), d.q(ref[0], ref[1])),
					func() {
						tb.cols = append(tb.cols, col)
						tb.constraints = append(tb.constraints, modelConstraint{name, "foreign"})
					}
			}
		case op == 14 && len(tb.constraints) > 0:
			c := tb.constraints[rng.IntN(len(tb.constraints))]
			return d.dropCons(st[0], st[1], c), func() {
				tb.constraints = slices.DeleteFunc(tb.constraints, func(x modelConstraint) bool { return x.name == c.name })
			}
		case op == 15:
			if len(tb.indexes) > 0 && rng.IntN(2) == 0 {
				i := tb.indexes[rng.IntN(len(tb.indexes))]
				return d.dropIndex(st[0], st[1], i), func() { tb.indexes = slices.DeleteFunc(tb.indexes, func(x string) bool { return x == i }) }
			}
			name := m.fresh("i")
			c, _ := pick(rng, tb.cols)
			return fmt.Sprintf("CREATE INDEX %s ON %s (%s)", d.q(name), d.q(st[0], st[1]), d.q(c.name)), func() { tb.indexes = append(tb.indexes, name) }
		default:
			if len(tb.views) > 0 && rng.IntN(2) == 0 {
				v := tb.views[rng.IntN(len(tb.views))]
				return "DROP VIEW " + d.q(st[0], v), func() { tb.views = slices.DeleteFunc(tb.views, func(x string) bool { return x == v }) }
			}
			v := m.fresh("v")
			return fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM %s", d.q(st[0], v), d.q(st[0], st[1])), func() { tb.views = append(tb.views, v) }
		}
	}
}

func pgIdent(names ...string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ".")
}

func pgSource(t *testing.T) *ddlSource {
	const db = "sa_e2e_incr"
	dsn := pgCatalog(t, db, 0, 0)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	q := pgIdent
	d := dialect{
		q:            q,
		createSchema: func(s string) string { return "CREATE SCHEMA " + q(s) },
		dropSchema:   func(s string) string { return "DROP SCHEMA " + q(s) + " CASCADE" },
		renameTable:  func(s, from, to string) string { return "ALTER TABLE " + q(s, from) + " RENAME TO " + q(to) },
		renameColumn: func(s, t, from, to string) string {
			return "ALTER TABLE " + q(s, t) + " RENAME COLUMN " + q(from) + " TO " + q(to)
		},
		changeType: func(s, t string, c modelCol, to string) string {
			return fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s", q(s, t), q(c.name), to)
		},
		commentTable: func(s, t, text string) string { return "COMMENT ON TABLE " + q(s, t) + " IS '" + text + "'" },
		commentCol: func(s, t string, c modelCol, text string) string {
			return "COMMENT ON COLUMN " + q(s, t, c.name) + " IS '" + text + "'"
		},
		dropIndex: func(s, _, i string) string { return "DROP INDEX " + q(s, i) },
		dropCons: func(s, t string, c modelConstraint) string {
			return "ALTER TABLE " + q(s, t) + " DROP CONSTRAINT " + q(c.name) + " CASCADE"
		},
		types: []string{"text", "varchar(64)", "int", "bigint"},
		def:   map[string]string{"text": "'x'", "varchar(64)": "'y'", "int": "7", "bigint": "8"},
	}
	return &ddlSource{
		name: "postgres", conn: "default/postgres/incr", setup: "CREATE SCHEMA base",
		spec: map[string]any{"source": map[string]any{"kind": "postgres", "dsn": "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable",
			"databases": []string{db}}},
		extract: []string{"--source", "postgres", "--dsn", "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable", "--database", db},
		exec: func(stmt string) error {
			_, err := conn.Exec(ctx, stmt)
			return err
		},
		next: generator(d),
	}
}

func mariaSource(t *testing.T) *ddlSource {
	const prefix, mariaDSN = "sa_e2e_incr_", "root@tcp(127.0.0.1:3306)/"
	db, err := sql.Open("mysql", mariaAdminDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	dropMaria := func() {
		rows, err := db.Query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'sa\\_e2e\\_incr\\_%'")
		require.NoError(t, err)
		var names []string
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			names = append(names, n)
		}
		require.NoError(t, rows.Close())
		for _, n := range names {
			_, err := db.Exec("SET foreign_key_checks = 0")
			require.NoError(t, err)
			_, err = db.Exec("DROP DATABASE `" + n + "`")
			require.NoError(t, err)
		}
	}
	dropMaria()
	t.Cleanup(dropMaria)
	// One session, so foreign_key_checks = 0 holds for schema drops.
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = conn.ExecContext(context.Background(), "SET foreign_key_checks = 0")
	require.NoError(t, err)
	q := func(names ...string) string {
		out := make([]string, len(names))
		for i, n := range names {
			if i == 0 && len(names) > 1 {
				n = prefix + n
			}
			out[i] = "`" + n + "`"
		}
		return strings.Join(out, ".")
	}
	d := dialect{
		q:            q,
		createSchema: func(s string) string { return "CREATE DATABASE `" + prefix + s + "`" },
		dropSchema:   func(s string) string { return "DROP DATABASE `" + prefix + s + "`" },
		renameTable:  func(s, from, to string) string { return "RENAME TABLE " + q(s, from) + " TO " + q(s, to) },
		renameColumn: func(s, t, from, to string) string {
			return "ALTER TABLE " + q(s, t) + " RENAME COLUMN " + q(from) + " TO " + q(to)
		},
		changeType: func(s, t string, c modelCol, to string) string {
			return fmt.Sprintf("ALTER TABLE %s MODIFY COLUMN %s %s", q(s, t), q(c.name), to)
		},
		commentTable: func(s, t, text string) string { return "ALTER TABLE " + q(s, t) + " COMMENT = '" + text + "'" },
		commentCol: func(s, t string, c modelCol, text string) string {
			return fmt.Sprintf("ALTER TABLE %s MODIFY COLUMN %s %s COMMENT '%s'", q(s, t), q(c.name), c.typ, text)
		},
		dropIndex: func(s, t, i string) string { return "DROP INDEX " + q(i) + " ON " + q(s, t) },
		dropCons: func(s, t string, c modelConstraint) string {
			switch c.kind {
			case "foreign":
				return "ALTER TABLE " + q(s, t) + " DROP FOREIGN KEY " + q(c.name)
			case "unique":
				return "ALTER TABLE " + q(s, t) + " DROP INDEX " + q(c.name)
			}
			return "ALTER TABLE " + q(s, t) + " DROP CONSTRAINT " + q(c.name)
		},
		// Key columns need a length: no TEXT.
		types: []string{"varchar(32)", "varchar(64)", "int", "bigint"},
		def:   map[string]string{"varchar(32)": "'x'", "varchar(64)": "'y'", "int": "7", "bigint": "8"},
	}
	gen := generator(d)
	return &ddlSource{
		name: "mariadb", conn: "default/mysql/incr", setup: "CREATE DATABASE `" + prefix + "base`",
		spec: map[string]any{"source": map[string]any{"kind": "mysql", "dsn": mariaDSN},
			"filters": map[string]any{"include_schemas": []string{`default\.sa_e2e_incr_.*`}}},
		extract: []string{"--source", "mysql", "--dsn", mariaDSN, "--include", `default\.sa_e2e_incr_.*`},
		exec: func(stmt string) error {
			_, err := conn.ExecContext(context.Background(), stmt)
			return err
		},
		next: func(rng *rand.Rand, m *ddlModel) (string, func()) {
			stmt, apply := gen(rng, m)
			// MariaDB has no CASCADE: views and keys of a dropped table stay
			// (and break); the catalog reads them as they are.
			return strings.ReplaceAll(stmt, " CASCADE", ""), apply
		},
	}
}

// assetLines are a whole set of assets, one line each with every attribute.
func assetLines(assets []controlplane.Asset) []string {
	out := make([]string, 0, len(assets))
	for _, a := range assets {
		keys := make([]string, 0, len(a.Attributes))
		for k := range a.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString(a.Kind + " " + a.QualifiedName)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, a.Attributes[k])
		}
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out
}

// wholeExtraction reads the source with agentctl extract (no pipeline, no
// catalog state) as the catalog's assets would look.
func wholeExtraction(t *testing.T, src *ddlSource) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "whole")
	args := append([]string{"extract", "--allow-empty", "--out", out, "--connection", src.conn}, src.extract...)
	cmd := exec.Command(filepath.Join(root(t), "bin", "agentctl"), args...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "agentctl extract: %s", b)
	m, err := model.ReadManifest(out)
	require.NoError(t, err)
	var assets []controlplane.Asset
	for _, f := range m.Files {
		err := model.ReadFile(filepath.Join(out, f.Name), func(k model.Kind, rec arrow.Record) error {
			for i := range int(rec.NumRows()) {
				assets = append(assets, *controlplane.RowAsset(k, rec, i))
			}
			return nil
		})
		require.NoError(t, err)
	}
	return assetLines(assets)
}

// diffLines names the lines only one side has (at most 20).
func diffLines(want, got []string) string {
	var b strings.Builder
	n := 0
	for _, w := range want {
		if !slices.Contains(got, w) && n < 20 {
			fmt.Fprintf(&b, "\n  missing from the catalog: %s", w)
			n++
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) && n < 20 {
			fmt.Fprintf(&b, "\n  only in the catalog:      %s", g)
			n++
		}
	}
	return b.String()
}

// runIncremental runs one incremental job of src through the control
// plane and answers its manifest.
func (l *linkedStack) runIncremental(t *testing.T, src *ddlSource, extra map[string]any) model.Manifest {
	t.Helper()
	spec := map[string]any{"version": 1, "connection": src.conn, "max_deletion_share": 1, "allow_empty_match": true}
	for k, v := range src.spec {
		spec[k] = v
	}
	for k, v := range extra {
		spec[k] = v
	}
	id, err := l.cp.Enqueue(spec)
	require.NoError(t, err)
	j := l.waitState(t, id, 3*time.Minute, "succeeded", "failed", "cancelled")
	require.Equal(t, "succeeded", j.State, "statuses: %+v", l.cp.Statuses(id))
	var m model.Manifest
	require.NoError(t, json.Unmarshal(l.cp.Manifest(id), &m))
	return m
}

// TestIncrementalRunsFollowTheSource is the model-based property test of
// incremental runs: for each engine, a seeded random sequence of DDL
// steps, an incremental run after each, and after every run the reference
// control plane's catalog equals a whole extraction of the source, asset
// by asset and attribute by attribute. INCR_SEED=N replays a seed.
func TestIncrementalRunsFollowTheSource(t *testing.T) {
	t.Parallel()
	l := startLinkedStack(t, 18000, "CONTROLPLANE_MAX_JOBS=2")
	seed := incrSeed(t)
	t.Logf("seed %d (replay with INCR_SEED=%d)", seed, seed)
	const steps = 30
	for _, newSource := range []func(*testing.T) *ddlSource{pgSource, mariaSource} {
		src := newSource(t)
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, uint64(len(src.name))))
			m := &ddlModel{schemas: []string{"base"}, tables: map[string][]*modelTable{}}
			require.NoError(t, src.exec(src.setup))
			first := l.runIncremental(t, src, nil)
			require.Equal(t, model.ModeFull, first.Mode)
			applied, tried := 0, 0
			for applied < steps {
				tried++
				require.Less(t, tried, steps*5, "too many steps failed: the generator's model is wrong")
				stmt, apply := src.next(rng, m)
				if err := src.exec(stmt); err != nil {
					t.Logf("step skipped (%v): %s", err, stmt)
					continue
				}
				apply()
				applied++
				man := l.runIncremental(t, src, nil)
				require.Equal(t, model.ModeIncremental, man.Mode, "step %d: %s", applied, stmt)
				require.Empty(t, man.FailSafes, "step %d: %s", applied, stmt)
				want := wholeExtraction(t, src)
				assets, _ := l.cp.Catalog(src.conn)
				got := assetLines(assets)
				require.Equalf(t, want, got, "seed %d, step %d (%s): the catalog differs from a whole extraction:%s",
					seed, applied, stmt, diffLines(want, got))
				t.Logf("step %d: %s — %d assets, changes %v", applied, stmt, len(want), man.Changes)
			}
			// No change in the source: nothing but the manifest ships.
			again := l.runIncremental(t, src, nil)
			require.Empty(t, again.Files, "a run without source changes ships no file")
			for k, c := range again.Changes {
				require.Zero(t, c.Created+c.Updated+c.Deleted+c.Withheld, "%s: %+v", k, c)
			}
		})
	}
	t.Run("fail-safes", func(t *testing.T) {
		t.Parallel()
		testFailSafes(t, l)
	})
	t.Run("SIGKILL of the extractor mid-run ships no tombstone", func(t *testing.T) {
		t.Parallel()
		testKilledRunDeletesNothing(t, l)
	})
}

// catalogHas reports whether the control plane's catalog of conn holds
// the asset.
func catalogHas(l *linkedStack, conn, kind, qn string) bool {
	assets, _ := l.cp.Catalog(conn)
	return slices.ContainsFunc(assets, func(a controlplane.Asset) bool { return a.Kind == kind && a.QualifiedName == qn })
}

// testFailSafes triggers each fail-safe that a job can reach in its own
// case and checks it withholds exactly its deletions.
func testFailSafes(t *testing.T, l *linkedStack) {
	const role, conn = "sa_e2e_fs", "default/postgres/failsafe"
	pgCatalog(t, "sa_e2e_fs_a", 1, 5)
	pgCatalog(t, "sa_e2e_fs_b", 1, 5)
	admin := func(db, stmt string) {
		c, err := pgx.Connect(context.Background(), "postgres://postgres@127.0.0.1:5432/"+db+"?sslmode=disable")
		require.NoError(t, err)
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), stmt)
		require.NoError(t, err, stmt)
	}
	admin("postgres", "DROP ROLE IF EXISTS "+role)
	admin("postgres", "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() {
		for _, db := range []string{"sa_e2e_fs_a", "sa_e2e_fs_b"} {
			admin("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
		admin("postgres", "DROP ROLE IF EXISTS "+role)
	})
	src := &ddlSource{name: "failsafe", conn: conn, spec: map[string]any{
		"source": map[string]any{"kind": "postgres", "dsn": "postgres://" + role + "@127.0.0.1:5432/postgres?sslmode=disable",
			"databases": []string{"*"}},
		"filters": map[string]any{"include_schemas": []string{`sa_e2e_fs_[ab]\.s00`}},
	}}
	qn := func(db, table string) string { return conn + "/" + db + "/s00/" + table }
	byDefault := map[string]any{"max_deletion_share": 0}
	first := l.runIncremental(t, src, byDefault)
	require.Equal(t, model.ModeFull, first.Mode)
	require.True(t, catalogHas(l, conn, "table", qn("sa_e2e_fs_b", "t004")))

	t.Run("threshold", func(t *testing.T) {
		admin("sa_e2e_fs_a", "DROP TABLE s00.t004, s00.t003, s00.t002 CASCADE")
		m := l.runIncremental(t, src, byDefault)
		require.Len(t, m.FailSafes, 1)
		require.Equal(t, "threshold", m.FailSafes[0].Name)
		require.EqualValues(t, 3, m.FailSafes[0].Withheld[model.KindTable])
		require.Zero(t, m.Changes[model.KindTable].Deleted)
		require.True(t, catalogHas(l, conn, "table", qn("sa_e2e_fs_a", "t004")), "withheld: still in the catalog")
		// The job's own share lets them through, and only them.
		m = l.runIncremental(t, src, map[string]any{"max_deletion_share": 1})
		require.Empty(t, m.FailSafes)
		require.EqualValues(t, 3, m.Changes[model.KindTable].Deleted)
		require.False(t, catalogHas(l, conn, "table", qn("sa_e2e_fs_a", "t004")))
		require.True(t, catalogHas(l, conn, "table", qn("sa_e2e_fs_a", "t001")))
	})
	t.Run("no assets", func(t *testing.T) {
		before, _ := l.cp.Catalog(conn)
		m := l.runIncremental(t, src, map[string]any{"max_deletion_share": 1,
			"filters": map[string]any{"include_schemas": []string{`sa_e2e_fs_a\.no_such_schema`}}})
		require.Len(t, m.FailSafes, 1)
		require.Equal(t, "no_assets", m.FailSafes[0].Name)
		after, _ := l.cp.Catalog(conn)
		require.Len(t, after, len(before), "nothing was deleted")
	})
	t.Run("unreadable database", func(t *testing.T) {
		admin("postgres", "REVOKE CONNECT ON DATABASE sa_e2e_fs_b FROM PUBLIC")
		admin("sa_e2e_fs_a", "DROP TABLE s00.t001 CASCADE")
		m := l.runIncremental(t, src, map[string]any{"max_deletion_share": 1})
		require.Len(t, m.FailSafes, 1)
		require.Equal(t, "unreadable", m.FailSafes[0].Name)
		require.Contains(t, m.FailSafes[0].Message, "sa_e2e_fs_b")
		require.EqualValues(t, 6, m.FailSafes[0].Withheld[model.KindTable], "every table and view of the unreadable database")
		require.EqualValues(t, 1, m.Changes[model.KindTable].Deleted, "the readable database's deletion goes through")
		require.True(t, catalogHas(l, conn, "table", qn("sa_e2e_fs_b", "t004")))
		require.False(t, catalogHas(l, conn, "table", qn("sa_e2e_fs_a", "t001")))
	})
}

// testKilledRunDeletesNothing kills the extractor while an incremental
// run of an unchanged source is in the middle of its partitions: the run
// recovers by redelivery and ships no tombstone.
func testKilledRunDeletesNothing(t *testing.T, l *linkedStack) {
	const db = "sa_e2e_incr_kill"
	pgCatalog(t, db, 12, 30)
	src := &ddlSource{name: "kill", conn: "default/postgres/incrkill", spec: map[string]any{
		"source": map[string]any{"kind": "postgres", "dsn": "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable",
			"databases": []string{db}},
		"partitioning": map[string]any{"tables_per_partition": 30, "max_parallel": 1},
	}, extract: []string{"--source", "postgres", "--dsn", "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable", "--database", db}}
	l.runIncremental(t, src, nil)
	spec := map[string]any{"version": 1, "connection": src.conn}
	for k, v := range src.spec {
		spec[k] = v
	}
	id, err := l.cp.Enqueue(spec)
	require.NoError(t, err)
	a := agent{t: t, s: l.s}
	a.waitUntil(id, "some partitions done, most not", 3*time.Minute, func(st job.Status) bool {
		done := partitionsSucceeded(st)
		return done >= 1 && done <= len(st.Partitions)-3
	})
	a.kill("extractor")
	j := l.waitState(t, id, 3*time.Minute, "succeeded", "failed", "cancelled")
	require.Equal(t, "succeeded", j.State, "statuses: %+v", l.cp.Statuses(id))
	var m model.Manifest
	require.NoError(t, json.Unmarshal(l.cp.Manifest(id), &m))
	require.Equal(t, model.ModeIncremental, m.Mode)
	require.Empty(t, m.FailSafes)
	require.Zero(t, m.Rows[model.KindTombstone], "no tombstone")
	for k, c := range m.Changes {
		require.Zero(t, c.Deleted+c.Withheld+c.Created+c.Updated, "%s: %+v", k, c)
	}
	assets, _ := l.cp.Catalog(src.conn)
	require.Equal(t, wholeExtraction(t, src), assetLines(assets))
}
