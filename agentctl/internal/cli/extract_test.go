package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func TestExtractAndExportSQLite(t *testing.T) {
	dbFile := sqliteFile(t)
	out := filepath.Join(t.TempDir(), "out")

	r := runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", dbFile, "--out", out, "--job-id", "job-1")
	require.Equal(t, ExitOK, r.code, r.stderr)
	s := parseSummary(t, r.stdout)

	// 4 tables + 1 view; 3+3+3+3 table columns + 2 view columns; PKs of 4
	// tables, 3 foreign keys, 1 unique. SQLite records no view
	// dependencies, so no lineage.
	require.EqualValues(t, 5, s.Counts[model.KindTable])
	require.EqualValues(t, 14, s.Counts[model.KindColumn])
	require.EqualValues(t, 8, s.Counts[model.KindConstraint])
	require.Zero(t, s.Counts[model.KindLineage])
	require.EqualValues(t, 1, s.Counts[model.KindDatabase])
	require.Len(t, s.Counts, len(model.Kinds), "every kind is reported, zeros included")
	require.Equal(t, out, s.Out)
	require.Positive(t, s.Files)
	require.Positive(t, s.Bytes)
	require.Positive(t, s.Queries)
	require.Positive(t, s.PeakRSSBytes)
	require.GreaterOrEqual(t, s.ElapsedMS, int64(0))

	// Files on disk match the summary and the manifest's checksums.
	require.NoError(t, model.VerifyDir(out))
	m, err := model.ReadManifest(out)
	require.NoError(t, err)
	require.Equal(t, "job-1", m.JobID)
	require.Equal(t, "sqlite", m.Source.Kind)
	require.Equal(t, "default/sqlite/agentctl", m.Source.Connection)
	require.Equal(t, s.Queries, m.Queries)
	require.Len(t, m.Files, s.Files)
	var bytes int64
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(out, f.Name))
		require.NoError(t, err)
		require.Equal(t, f.Bytes, fi.Size())
		bytes += f.Bytes
		require.Equal(t, s.Counts[f.Kind], f.Rows, f.Kind)
	}
	require.Equal(t, s.Bytes, bytes)
	require.False(t, m.FinishedAt.Before(m.StartedAt))
	raw, err := os.ReadFile(filepath.Join(out, model.ManifestFile))
	require.NoError(t, err)
	require.NotContains(t, string(raw), dbFile, "the manifest never records the DSN")

	// Export to a file: one entity per row, typed as the catalog expects.
	jsonl := filepath.Join(t.TempDir(), "entities.jsonl")
	r = runCLI(t, nil, "export", "--format", "entity-jsonl", "--in", out, "--out", jsonl)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Empty(t, r.stdout)
	byType := readEntities(t, jsonl)
	for _, typ := range []string{"Database", "Schema", "Table", "View", "Column", "Constraint", "Index"} {
		require.Positive(t, byType[typ], "typeName %s missing; got %v", typ, byType)
	}
	require.Equal(t, 4, byType["Table"])
	require.Equal(t, 1, byType["View"])
	require.Equal(t, 14, byType["Column"])
	// stderr lists the counts per type and the total.
	for typ, n := range byType {
		require.Regexp(t, `(?m)^`+typ+` +`+strconv.Itoa(n)+`$`, r.stderr)
	}
	total := 0
	for _, n := range byType {
		total += n
	}
	require.Regexp(t, `(?m)^total +`+strconv.Itoa(total)+`$`, r.stderr)

	// And to stdout, byte for byte the same.
	r = runCLI(t, nil, "export", "--in", out, "--out", "-")
	require.Equal(t, ExitOK, r.code, r.stderr)
	fileBytes, err := os.ReadFile(jsonl)
	require.NoError(t, err)
	require.Equal(t, string(fileBytes), r.stdout)
}

// readEntities counts a JSONL file's entities by typeName, checking that
// every line is one object with attributes and a qualified name.
func readEntities(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			TypeName   string         `json:"typeName"`
			Attributes map[string]any `json:"attributes"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		require.NotEmpty(t, e.TypeName)
		qn, _ := e.Attributes["qualifiedName"].(string)
		require.True(t, strings.HasPrefix(qn, "default/"), "qualifiedName %q", qn)
		counts[e.TypeName]++
	}
	require.NoError(t, sc.Err())
	return counts
}

func TestExtractPostgresWithFilters(t *testing.T) {
	db := pgDatabase(t,
		`CREATE SCHEMA sales`, `CREATE SCHEMA hr`,
		`CREATE TABLE sales.customers (id int PRIMARY KEY, name text)`,
		`CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES sales.customers(id), total numeric)`,
		`CREATE TABLE sales.tmp_load (id int)`,
		`CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE total > 100`,
		`CREATE TABLE hr.employees (id int PRIMARY KEY, salary numeric)`,
		`COMMENT ON TABLE sales.orders IS 'orders of customers'`,
	)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "postgres", "--dsn", pgDSN(db), "--database", db,
		"--include", db+`\.sales`, "--temp-tables", `tmp_.*`, "--exclude-fields", "comment", "--out", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	require.EqualValues(t, 3, s.Counts[model.KindTable], "customers, orders, big_orders; not hr.employees, not tmp_load")
	require.EqualValues(t, 2+3+3, s.Counts[model.KindColumn])
	require.EqualValues(t, 1, s.Counts[model.KindSchema])
	require.EqualValues(t, 1, s.Counts[model.KindLineage])
	require.NoError(t, model.VerifyDir(out))

	m, err := model.ReadManifest(out)
	require.NoError(t, err)
	require.Equal(t, []string{db}, m.Source.Databases)
	require.Equal(t, []string{"comment"}, m.Source.ExcludeFields)
	require.Contains(t, mustJSON(t, m.Source.Filters), `sales`)

	jsonl := filepath.Join(t.TempDir(), "e.jsonl")
	r = runCLI(t, nil, "export", "--format", "entity-jsonl", "--in", out, "--out", jsonl)
	require.Equal(t, ExitOK, r.code, r.stderr)
	raw, err := os.ReadFile(jsonl)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "/hr/")
	require.NotContains(t, string(raw), "tmp_load")
	require.NotContains(t, string(raw), "orders of customers", "--exclude-fields comment")
	require.Contains(t, string(raw), "default/postgres/agentctl/"+db+"/sales/orders")
	byType := readEntities(t, jsonl)
	require.Equal(t, 2, byType["Table"])
	require.Equal(t, 1, byType["View"])
	require.Equal(t, 1, byType["Process"], "big_orders reads sales.orders")

	// --include-table narrows to tables of the schemas left.
	out2 := filepath.Join(t.TempDir(), "out2")
	r = runCLI(t, nil, "extract", "--source", "postgres", "--dsn", pgDSN(db), "--database", db,
		"--include-table", `sales\.orders`, "--connection", "prod/pg/1", "--out", out2)
	require.Equal(t, ExitOK, r.code, r.stderr)
	s = parseSummary(t, r.stdout)
	require.EqualValues(t, 1, s.Counts[model.KindTable])
	require.EqualValues(t, 3, s.Counts[model.KindColumn])
	r = runCLI(t, nil, "export", "--in", out2, "--out", "-")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `"prod/pg/1/`+db+`/sales/orders"`)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestExtractPasswordHandling(t *testing.T) {
	db := pgDatabase(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	const pw = "pw-not-on-command-line-7731"
	withPassword := "postgres://postgres:" + pw + "@" + pgHost + "/" + db + "?sslmode=disable"

	// A password on the command line is refused before connecting.
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "postgres", "--dsn", withPassword, "--out", out)
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stderr, connector.ErrInlinePassword.Error())
	require.NotContains(t, r.stderr, pw)
	require.Empty(t, r.stdout)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "one error line: %q", r.stderr)
	_, err := os.Stat(out)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing is written when the source cannot be opened")

	// The same DSN from the environment is accepted (trust authentication
	// ignores the password).
	r = runCLI(t, map[string]string{"PG_DSN": withPassword}, "extract", "--source", "postgres", "--dsn", "env:PG_DSN",
		"--database", db, "--out", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.EqualValues(t, 1, parseSummary(t, r.stdout).Counts[model.KindTable])
	require.NotContains(t, r.stderr+r.stdout, pw)

	// --password-env supplies the password as credentials.
	out2 := filepath.Join(t.TempDir(), "out2")
	r = runCLI(t, map[string]string{"PGPW": pw}, "extract", "--source", "postgres", "--dsn", pgDSN(db),
		"--password-env", "PGPW", "--database", db, "--out", out2)
	require.Equal(t, ExitOK, r.code, r.stderr)

	// Unset variables are command-line problems, named with the fix.
	r = runCLI(t, nil, "extract", "--source", "postgres", "--dsn", "env:PG_DSN", "--password-env", "PGPW", "--out", out2+"x")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--dsn env:PG_DSN: the environment variable PG_DSN is not set")
	require.Contains(t, r.stderr, "--password-env PGPW: the environment variable PGPW is not set")
}

func TestExtractRefusesNonEmptyOut(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, "keep.txt"), []byte("x"), 0o600))
	r := runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", sqliteFile(t), "--out", out)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "is not empty")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestExtractUnreadableSourceWritesNothing(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not.db")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Repeat("not a database ", 100)), 0o600))
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", bad, "--out", out)
	require.Equal(t, ExitFailure, r.code, r.stdout)
	require.Empty(t, r.stdout)
	require.Regexp(t, `^agentctl extract: .*not a SQLite 3 database.*\n$`, r.stderr)
	_, err := os.Stat(out)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// failingConnector stands for a source that breaks mid-extraction (a
// dropped connection, a cancelled job): it writes rows, enough for several
// batches to reach the disk, then fails or waits for cancellation.
type failingConnector struct {
	waitForCancel bool
	started       chan struct{}
}

func (f *failingConnector) Preflight(context.Context) []connector.Check { return nil }
func (f *failingConnector) Close() error                                { return nil }
func (f *failingConnector) Extract(ctx context.Context, w *model.Writer) (connector.Stats, error) {
	n := model.Names{Connection: "c", Database: "d", Schema: "s"}
	for i := range 1000 {
		n.Table = "t" + strconv.Itoa(i)
		if err := w.Table(model.Table{QualifiedName: n.TableQN(), ParentQualifiedName: n.SchemaQN(),
			Database: "d", Schema: "s", Name: n.Table, Kind: model.TableKindTable}); err != nil {
			return connector.Stats{}, err
		}
	}
	if f.waitForCancel {
		close(f.started)
		<-ctx.Done()
		return connector.Stats{}, ctx.Err()
	}
	return connector.Stats{}, errors.New("read columns: connection reset by peer")
}

func TestExtractFailureKeepsNothing(t *testing.T) {
	for _, cancel := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancelled=%v", cancel), func(t *testing.T) {
			fc := &failingConnector{waitForCancel: cancel, started: make(chan struct{})}
			reg := connector.Registry{"fake": func(context.Context, connector.Source, connector.Credentials) (connector.Connector, error) {
				return fc, nil
			}}
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			if cancel {
				go func() {
					<-fc.started
					stop()
				}()
			}
			out := filepath.Join(t.TempDir(), "out")
			var stdout, stderr bytes.Buffer
			code := Run(ctx, []string{"extract", "--source", "fake", "--dsn", "x", "--batch-rows", "100", "--out", out},
				Env{Registry: reg, Stdout: &stdout, Stderr: &stderr})
			require.Equal(t, ExitFailure, code)
			require.Empty(t, stdout.String())
			if cancel {
				require.Contains(t, stderr.String(), "interrupted: context canceled")
			} else {
				require.Contains(t, stderr.String(), "read columns: connection reset by peer")
			}
			require.Contains(t, stderr.String(), "nothing was kept in "+out)
			entries, err := os.ReadDir(out)
			require.NoError(t, err)
			require.Empty(t, entries, "batches already on disk must be discarded")
		})
	}
}

func TestExtractWritesACPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", sqliteFile(t), "--out", out, "--cpuprofile", prof)
	require.Equal(t, ExitOK, r.code, r.stderr)
	// A Go CPU profile is a gzip-compressed protobuf.
	f, err := os.Open(prof)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err, "the profile is not gzip data")
	data, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.NotEmpty(t, data)

	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", sqliteFile(t), "--out", filepath.Join(t.TempDir(), "out"),
		"--cpuprofile", filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	require.Equal(t, ExitFailure, r.code, r.stdout)
	require.Contains(t, r.stderr, "--cpuprofile")
}
