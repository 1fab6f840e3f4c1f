package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

// In a SQL_ASCII database PostgreSQL's regex reads bytes: '.' matches one
// byte of "é" (two in UTF-8), so a pushed-down include dropped a table the
// Go pattern keeps, and an exclude removed one it keeps. Go decides alone
// there (issue 10, item 7: the server may narrow, never decide).
func TestSQLASCIIDatabaseLetsGoDecide(t *testing.T) {
	t.Parallel()
	name := uniqueName(t, "sapg_ascii_")
	adminExec(t, adminDSN, "CREATE DATABASE "+name+" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
	t.Cleanup(func() { adminExec(t, adminDSN, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	adminExec(t, dbDSN(name), `CREATE TABLE public."é" (id int); CREATE TABLE public.e (id int); CREATE TABLE public.ab (id int)`)

	for _, tc := range []struct {
		name string
		set  func(*[]string, *[]string)
		want []string
	}{
		{"include one character", func(inc, _ *[]string) { *inc = []string{`public\..`} }, []string{"public.e", "public.é"}},
		{"exclude two characters", func(_, exc *[]string) { *exc = []string{`public\...`} }, []string{"public.e", "public.é"}},
		{"include a class", func(inc, _ *[]string) { *inc = []string{`public\.[^a]`} }, []string{"public.e", "public.é"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := source(name)
			tc.set(&src.Filters.IncludeTables, &src.Filters.ExcludeTables)
			sink, _ := extract(t, src, model.WriterOptions{})
			require.Equal(t, tc.want, tableNames(sink))
		})
	}
}
