package job

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseSpecYAMLAndJSONAgree(t *testing.T) {
	y := `
version: 1
name: sales
connection: default/postgres/1
source:
  kind: postgres
  dsn: postgres://reader@db:5432/sales
  databases: [sales]
  password: {key: sales-pw}
  connect_timeout: 5s
filters:
  include_schemas: ['sales\.public']
exclude_fields: [comment]
partitioning:
  tables_per_partition: 100
  timeout: 90s
`
	j := `{"version":1,"name":"sales","connection":"default/postgres/1",
	"source":{"kind":"postgres","dsn":"postgres://reader@db:5432/sales","databases":["sales"],"password":{"key":"sales-pw"},"connect_timeout":"5s"},
	"filters":{"include_schemas":["sales\\.public"]},"exclude_fields":["comment"],
	"partitioning":{"tables_per_partition":100,"timeout":"90s"}}`
	a, err := ParseSpec([]byte(y))
	require.NoError(t, err)
	b, err := ParseSpec([]byte(j))
	require.NoError(t, err)
	require.Equal(t, a, b)

	require.Equal(t, DefaultSecretStore, a.Source.Password.Store, "store defaults")
	require.Equal(t, 5*time.Second, a.Source.ConnectTimeout.D())
	require.Equal(t, "auto", a.Partitioning.By)
	require.Equal(t, DefaultMaxParallel, a.Partitioning.MaxParallel)
	require.Equal(t, DefaultRetries, a.Partitioning.Retries)
	require.Equal(t, 90*time.Second, a.Partitioning.Timeout.D())
	require.Equal(t, []Destination{{Binding: DefaultDestination, Prefix: DefaultPrefix}}, a.Destinations)
}

func TestParseSpecReportsEveryProblem(t *testing.T) {
	_, err := ParseSpec([]byte(`
version: 2
connection: ""
source:
  kind: oracle
  dsn: postgres://u:canary-pw@h/db
filters:
  include_schemas: ['(']
exclude_fields: [nope]
partitioning:
  by: table
  timeout: 1s
  retries: 11
destinations:
  - {binding: destination, prefix: ../up}
  - {binding: destination}
`))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"version: is 2", "connection: is empty", `source.kind: "oracle"`, "source.dsn: contains a password",
		"filters:", "exclude_fields:", `partitioning.by: "table"`, "partitioning.timeout: is 1s",
		"partitioning.retries: is 11", `destinations[0].prefix: "../up"`, `destinations[1].binding: "destination" is listed twice`,
	} {
		require.Contains(t, msg, want)
	}
	require.NotContains(t, msg, "canary-pw", "the DSN is never echoed")
}

func TestParseSpecRefusesUnknownFieldsAndJunk(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"unknown top-level":   {"version: 1\nbogus: 1\n", `unknown field "bogus" in the spec`},
		"unknown in source":   {"version: 1\nsource:\n  passwrd: x\n", `unknown field "passwrd" in source`},
		"unknown JSON":        {`{"version":1,"bogus":1}`, `unknown field "bogus"`},
		"empty":               {"  \n", "job spec is empty"},
		"trailing JSON":       {`{"version":1} {}`, "data after its JSON document"},
		"duration not string": {"version: 1\npartitioning:\n  timeout: 5\n", `"5" is not a duration`},
		"too big":             {strings.Repeat("#", MaxSpecBytes+1), "the limit is"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSpec([]byte(c.in))
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestDSNPasswordDetection(t *testing.T) {
	for _, c := range []struct {
		kind, dsn string
		has       bool
	}{
		{"postgres", "postgres://reader@db:5432/x", false},
		{"postgres", "postgres://reader:pw@db:5432/x", true},
		{"postgres", "host=db user=r password=pw", true},
		{"postgres", "host=db application_name='password=x'", false},
		{"mysql", "reader@tcp(db:3306)/", false},
		{"mysql", "reader:pw@tcp(db:3306)/", true},
		{"sqlite", "/var/lib/demo.db", false},
		{"postgres", "postgres://db:5432/x?sslmode=require", false},
	} {
		problem := dsnProblem(c.kind, c.dsn)
		require.Equal(t, c.has, strings.HasPrefix(problem, "contains a password"), "%s: %s", c.dsn, problem)
	}
}

// The pattern check let these through: the value was stored in the job
// record, the workflow history and the scheduler's WAL before the
// extractor refused it (issue 10, item 5).
func TestParseSpecRefusesDSNPasswordsTheDriversWouldRead(t *testing.T) {
	for name, c := range map[string]struct{ kind, dsn, where string }{
		"keyword DSN, spaces around =": {"postgres", "host=db password = canary-pw", "password"},
		"percent-encoded key":          {"postgres", "postgres://u@h/db?passwor%64=canary-pw", "password"},
		"keyword DSN, tab":             {"postgres", "host=db\tpassword=\tcanary-pw", "password"},
		"client key passphrase":        {"postgres", "postgres://u@h/db?sslpassword=canary-pw", "sslpassword"},
		"MySQL session variable":       {"mysql", "u@tcp(h:3306)/db?Password=canary-pw", "parameter"},
		"SQLite key, encoded name":     {"sqlite", "file:/x.db?ke%79=canary-pw", "key"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSpec([]byte("version: 1\nconnection: default/x/1\nsource:\n  kind: " + c.kind + "\n  dsn: \"" + c.dsn + "\"\n"))
			require.ErrorContains(t, err, "source.dsn: contains a password")
			require.ErrorContains(t, err, c.where)
			require.NotContains(t, err.Error(), "canary-pw")
		})
	}
}

func TestParseSpecRefusesUnparseableDSNWithoutEchoingIt(t *testing.T) {
	_, err := ParseSpec([]byte("version: 1\nconnection: default/x/1\nsource:\n  kind: postgres\n  dsn: \"host=db password='canary-pw\"\n"))
	require.ErrorContains(t, err, "source.dsn: the PostgreSQL driver cannot parse the DSN")
	require.NotContains(t, err.Error(), "canary-pw")

	// A password in the environment is not the DSN's.
	t.Setenv("PGPASSWORD", "from-env")
	_, err = ParseSpec([]byte("version: 1\nconnection: default/x/1\nsource:\n  kind: postgres\n  dsn: host=db user=reader\n"))
	require.NoError(t, err)
}

func TestKeysAreDeterministic(t *testing.T) {
	require.Equal(t, "jobs/j1/p000/r1/table-000003.arrows", StagingKey("j1", "p000", "r1", "table", 3))
	require.Equal(t, "p001/column-002.arrows", UploadName("p001", "column", 2))
	require.Equal(t, "jobs/j1", JobDir("jobs", "j1"))
	require.Equal(t, "jobs/j1", StagingPrefix("j1"))
}
