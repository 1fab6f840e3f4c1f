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
	for dsn, has := range map[string]bool{
		"postgres://reader@db:5432/x":          false,
		"postgres://reader:pw@db:5432/x":       true,
		"host=db user=r password=pw":           true,
		"reader@tcp(db:3306)/":                 false,
		"reader:pw@tcp(db:3306)/":              true,
		"/var/lib/demo.db":                     false,
		"postgres://db:5432/x?sslmode=require": false,
	} {
		require.Equal(t, has, dsnHasPassword(dsn), dsn)
	}
}

func TestKeysAreDeterministic(t *testing.T) {
	require.Equal(t, "jobs/j1/p000/r1/table-000003.arrows", StagingKey("j1", "p000", "r1", "table", 3))
	require.Equal(t, "p001/column-002.arrows", UploadName("p001", "column", 2))
	require.Equal(t, "jobs/j1", JobDir("jobs", "j1"))
	require.Equal(t, "jobs/j1", StagingPrefix("j1"))
}
