package connector

import (
	"context"
	"strings"
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/stretchr/testify/require"
)

func validSource() Source {
	return Source{Kind: "postgres", Connection: "default/postgres/1700000000", DSN: "postgres://reader@db.internal:5432/shop"}
}

func TestSourceValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Source)
		wantErr []string
	}{
		{name: "valid", mutate: func(*Source) {}},
		{name: "valid with filters and exclusions", mutate: func(s *Source) {
			s.Filters = Filters{IncludeSchemas: []string{`shop\..*`}}
			s.ExcludeFields = []string{"comment", "view_definition"}
		}},
		{name: "no connection", mutate: func(s *Source) { s.Connection = "" },
			wantErr: []string{"connection qualified name is empty (e.g. default/postgres/1700000000)"}},
		{name: "blank dsn", mutate: func(s *Source) { s.DSN = " \t" }, wantErr: []string{"dsn is empty"}},
		{name: "bad filter", mutate: func(s *Source) { s.Filters.ExcludeTables = []string{"("} },
			wantErr: []string{"exclude_tables", "not a valid regular expression"}},
		{name: "bad excluded field", mutate: func(s *Source) { s.ExcludeFields = []string{"password"} },
			wantErr: []string{"cannot exclude field(s) password", "excludable fields are"}},
		{name: "every problem at once", mutate: func(s *Source) {
			*s = Source{Filters: Filters{TempTables: "^x"}, ExcludeFields: []string{"qualified_name"}}
		}, wantErr: []string{"connection qualified name is empty", "dsn is empty", "temp_tables", "qualified_name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSource()
			tc.mutate(&s)
			err := s.Validate()
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "invalid source: "), err.Error())
			for _, want := range tc.wantErr {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestSourceValidateNeverEchoesTheDSN(t *testing.T) {
	s := Source{DSN: "postgres://u:s3cret-pw@h/db", Filters: Filters{IncludeTables: []string{"("}}}
	err := s.Validate()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")
}

type stubConnector struct{}

func (stubConnector) Preflight(context.Context) []Check { return nil }
func (stubConnector) Extract(context.Context, *model.Writer) (Stats, error) {
	return Stats{}, nil
}
func (stubConnector) Close() error { return nil }

func TestRegistryOpen(t *testing.T) {
	var gotSrc Source
	var gotCreds Credentials
	calls := 0
	open := func(_ context.Context, src Source, creds Credentials) (Connector, error) {
		calls++
		gotSrc, gotCreds = src, creds
		return stubConnector{}, nil
	}
	reg := Registry{"sqlite": open, "postgres": open, "mysql": open}
	require.Equal(t, []string{"mysql", "postgres", "sqlite"}, reg.Kinds())

	src := validSource()
	src.Kind = "oracle"
	_, err := reg.Open(context.Background(), src, nil)
	require.EqualError(t, err, `unknown source kind "oracle": use one of mysql, postgres, sqlite`)
	require.Zero(t, calls)

	src.Kind = ""
	_, err = reg.Open(context.Background(), src, nil)
	require.ErrorContains(t, err, `unknown source kind ""`)

	bad := validSource()
	bad.DSN = ""
	_, err = reg.Open(context.Background(), bad, nil)
	require.ErrorContains(t, err, "dsn is empty", "the source is validated before a connector is opened")
	require.Zero(t, calls)

	c, err := reg.Open(context.Background(), validSource(), nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Equal(t, 1, calls)
	require.Equal(t, validSource(), gotSrc)
	require.Equal(t, NoCredentials{}, gotCreds, "nil credentials become NoCredentials")
	pw, err := gotCreds.Password(context.Background())
	require.NoError(t, err)
	require.Empty(t, pw)

	_, err = Registry{}.Open(context.Background(), validSource(), nil)
	require.ErrorContains(t, err, `no source connectors are registered in this program (asked for "postgres")`)
	_, err = Registry{"mysql": nil}.Open(context.Background(), validSource(), nil)
	require.ErrorContains(t, err, `unknown source kind "postgres": use one of mysql`)
}

func TestErrInlinePasswordSaysWhatToDo(t *testing.T) {
	require.Contains(t, ErrInlinePassword.Error(), "secret store")
	require.Contains(t, ErrInlinePassword.Error(), "env:NAME")
}

func TestDatabaseScope(t *testing.T) {
	for name, c := range map[string]struct {
		listed  []string
		dsn     string
		want    []string
		fromDSN bool
	}{
		"the DSN's database":        {nil, "sales", []string{"sales"}, true},
		"no database anywhere: all": {nil, "", nil, false},
		"a list wins":               {[]string{"a", "b"}, "sales", []string{"a", "b"}, false},
		"* reads every database":    {[]string{AllDatabases}, "sales", nil, false},
		"* without a DSN database":  {[]string{AllDatabases}, "", nil, false},
		"an empty list is no list":  {[]string{}, "sales", []string{"sales"}, true},
	} {
		t.Run(name, func(t *testing.T) {
			got, fromDSN := Source{Databases: c.listed}.DatabaseScope(c.dsn)
			require.Equal(t, c.want, got)
			require.Equal(t, c.fromDSN, fromDSN)
		})
	}
	src := Source{Kind: "postgres", Connection: "c", DSN: "postgres://h/db", Databases: []string{"a", AllDatabases}}
	require.ErrorContains(t, src.Validate(), `use ["*"] alone`)
}
