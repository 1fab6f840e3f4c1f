package assetfilter

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFiltersCompile(t *testing.T) {
	tests := []struct {
		name    string
		filters Filters
		wantErr []string // substrings; nil means valid
	}{
		{name: "empty", filters: Filters{}},
		{name: "valid", filters: Filters{
			IncludeSchemas: []string{`shop\.(sales|crm)`, `analytics\..*`},
			ExcludeSchemas: []string{`.*\.pg_temp_\d+`},
			IncludeTables:  []string{`sales\.orders.*`},
			ExcludeTables:  []string{`.*\.bak_.*`},
			TempTables:     `tmp_.*|.*_tmp`,
		}},
		{name: "case-insensitive flag", filters: Filters{IncludeTables: []string{`(?i)sales\.orders`}}},
		{name: "exactly the length limit", filters: Filters{IncludeTables: []string{strings.Repeat("a", maxPatternLen)}}},
		{name: "invalid regex", filters: Filters{IncludeSchemas: []string{`shop\.(sales`}},
			wantErr: []string{"include_schemas", `"shop\\.(sales"`, "not a valid regular expression", "missing closing )"}},
		{name: "invalid repetition", filters: Filters{ExcludeTables: []string{`*.orders`}},
			wantErr: []string{"exclude_tables", "not a valid regular expression"}},
		{name: "empty pattern", filters: Filters{IncludeTables: []string{""}},
			wantErr: []string{"include_tables: empty pattern", "use .* to match everything"}},
		{name: "blank pattern", filters: Filters{ExcludeSchemas: []string{"  \t"}},
			wantErr: []string{"exclude_schemas: empty pattern"}},
		{name: "too long", filters: Filters{IncludeTables: []string{strings.Repeat("a", maxPatternLen+1)}},
			wantErr: []string{"include_tables", "1001 characters", "limit is 1000"}},
		{name: "NUL byte", filters: Filters{TempTables: "tmp\x00"},
			wantErr: []string{"temp_tables", "NUL byte"}},
		{name: "named group", filters: Filters{IncludeSchemas: []string{`shop\.(?P<s>sales)`}},
			wantErr: []string{"include_schemas", "named group (?P<s>...)", "use a plain group"}},
		{name: "named group, short form", filters: Filters{IncludeSchemas: []string{`shop\.(?<s>sales)`}},
			wantErr: []string{"named group"}},
		{name: "caret", filters: Filters{IncludeTables: []string{`^sales\.orders`}},
			wantErr: []string{"include_tables", "uses ^ or $", "already anchored"}},
		{name: "dollar", filters: Filters{IncludeTables: []string{`sales\.orders$`}},
			wantErr: []string{"uses ^ or $"}},
		{name: "caret inside alternation", filters: Filters{ExcludeTables: []string{`a|^b`}},
			wantErr: []string{"exclude_tables", "uses ^ or $"}},
		{name: "multi-line caret", filters: Filters{ExcludeTables: []string{`(?m)^b`}},
			wantErr: []string{"uses ^ or $"}},
		{name: "text anchors", filters: Filters{ExcludeTables: []string{`\Ab\z`}},
			wantErr: []string{"uses ^ or $"}},
		{name: "word boundary", filters: Filters{IncludeTables: []string{`\bsales`}},
			wantErr: []string{"include_tables", `uses \b or \B`}},
		{name: "not word boundary", filters: Filters{TempTables: `tmp\B`},
			wantErr: []string{"temp_tables", `\b or \B`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.filters.Compile()
			if tc.wantErr == nil {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			require.Nil(t, c)
			for _, want := range tc.wantErr {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestFiltersCompileReportsEveryProblem(t *testing.T) {
	f := Filters{
		IncludeSchemas: []string{`ok\..*`, `(`},
		ExcludeSchemas: []string{""},
		IncludeTables:  []string{`^x`, `fine`},
		ExcludeTables:  []string{`\bx`},
		TempTables:     "a\x00",
	}
	_, err := f.Compile()
	require.Error(t, err)
	msg := err.Error()
	for _, where := range []string{"include_schemas", "exclude_schemas", "include_tables", "exclude_tables", "temp_tables"} {
		require.Equal(t, 1, strings.Count(msg, "\n  - "+where+":"), "one problem reported for %s in:\n%s", where, msg)
	}
	require.Equal(t, 5, strings.Count(msg, "\n  - "))
	require.NotContains(t, msg, "ok\\\\..*", "valid patterns are not reported")
}

func TestCompiledKeepsEveryPattern(t *testing.T) {
	f := Filters{
		IncludeSchemas: []string{"a", "b"}, ExcludeSchemas: []string{"c"},
		IncludeTables: []string{"d"}, ExcludeTables: []string{"e", "f"}, TempTables: "g",
	}
	c, err := f.Compile()
	require.NoError(t, err)
	var got []string
	for _, p := range c.All() {
		got = append(got, p.Where+"="+p.Source)
	}
	require.Equal(t, []string{"include_schemas=a", "include_schemas=b", "exclude_schemas=c", "include_tables=d",
		"exclude_tables=e", "exclude_tables=f", "temp_tables=g"}, got)
}

func TestPatternAnchoring(t *testing.T) {
	tests := []struct {
		pattern  string
		anchored string
		match    []string
		noMatch  []string
	}{
		{pattern: "sales", anchored: "^(?:sales)$", match: []string{"sales"}, noMatch: []string{"sales_eu", "eu_sales", "xsalesx", "Sales", ""}},
		{pattern: "sales|hr", anchored: "^(?:sales|hr)$", match: []string{"sales", "hr"}, noMatch: []string{"sales_eu", "hr_x", "x_hr", "saleshr"}},
		{pattern: `shop\.sales`, anchored: `^(?:shop\.sales)$`, match: []string{"shop.sales"}, noMatch: []string{"shopxsales", "shop.sales2"}},
		{pattern: "sales.*", match: []string{"sales", "sales_eu"}, noMatch: []string{"eu_sales"}},
		{pattern: "(?i)sales", match: []string{"SALES", "Sales"}, noMatch: []string{"SALES_EU"}},
		{pattern: "ü.", match: []string{"üx", "üé"}, noMatch: []string{"ü", "üxy"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			c, err := Filters{IncludeTables: []string{tc.pattern}}.Compile()
			require.NoError(t, err)
			p := c.IncludeTables[0]
			require.Equal(t, tc.pattern, p.Source)
			require.Equal(t, "include_tables", p.Where)
			if tc.anchored != "" {
				require.Equal(t, tc.anchored, p.Anchored())
			}
			for _, s := range tc.match {
				require.True(t, p.Match(s), "%q must match %q", tc.pattern, s)
			}
			for _, s := range tc.noMatch {
				require.False(t, p.Match(s), "%q must not match %q", tc.pattern, s)
			}
		})
	}
}

func TestIncluded(t *testing.T) {
	type tbl struct{ db, schema, table string }
	tests := []struct {
		name       string
		filters    Filters
		schemasIn  [][2]string
		schemasOut [][2]string
		tablesIn   []tbl
		tablesOut  []tbl
	}{
		{
			name:      "no filters include everything",
			schemasIn: [][2]string{{"shop", "sales"}, {"x", "y"}},
			tablesIn:  []tbl{{"shop", "sales", "orders"}, {"x", "y", "tmp_1"}},
		},
		{
			name:       "schema include matches database.schema",
			filters:    Filters{IncludeSchemas: []string{`shop\.sales`}},
			schemasIn:  [][2]string{{"shop", "sales"}},
			schemasOut: [][2]string{{"shop", "sales_eu"}, {"shop", "hr"}, {"other", "sales"}},
			tablesIn:   []tbl{{"shop", "sales", "orders"}},
			tablesOut:  []tbl{{"shop", "hr", "orders"}},
		},
		{
			name:       "a schema pattern without the database matches nothing",
			filters:    Filters{IncludeSchemas: []string{`sales`}},
			schemasOut: [][2]string{{"shop", "sales"}},
		},
		{
			name:       "exclude wins over include",
			filters:    Filters{IncludeSchemas: []string{`shop\..*`}, ExcludeSchemas: []string{`shop\.hr`}},
			schemasIn:  [][2]string{{"shop", "sales"}, {"shop", "hr_archive"}},
			schemasOut: [][2]string{{"shop", "hr"}, {"other", "sales"}},
			tablesOut:  []tbl{{"shop", "hr", "salaries"}},
		},
		{
			name:       "exclude alone keeps the rest",
			filters:    Filters{ExcludeSchemas: []string{`.*\.pg_temp_\d+`}},
			schemasIn:  [][2]string{{"shop", "sales"}},
			schemasOut: [][2]string{{"shop", "pg_temp_3"}},
		},
		{
			name:      "tables match schema.table; exclude wins",
			filters:   Filters{IncludeTables: []string{`sales\.orders.*`}, ExcludeTables: []string{`sales\.orders_tmp`}},
			tablesIn:  []tbl{{"shop", "sales", "orders"}, {"shop", "sales", "orders_2024"}, {"other", "sales", "orders"}},
			tablesOut: []tbl{{"shop", "sales", "orders_tmp"}, {"shop", "sales", "customers"}, {"shop", "crm", "orders"}},
		},
		{
			name:      "a table in an excluded schema is out even if its table pattern is included",
			filters:   Filters{ExcludeSchemas: []string{`shop\.crm`}, IncludeTables: []string{`.*\.orders`}},
			tablesIn:  []tbl{{"shop", "sales", "orders"}},
			tablesOut: []tbl{{"shop", "crm", "orders"}},
		},
		{
			name:      "temp tables match the bare table name and win over includes",
			filters:   Filters{IncludeTables: []string{`sales\..*`}, TempTables: `tmp_.*|.*_tmp`},
			tablesIn:  []tbl{{"shop", "sales", "orders"}, {"shop", "sales", "tmpx"}, {"shop", "sales", "tmp"}},
			tablesOut: []tbl{{"shop", "sales", "tmp_1"}, {"shop", "sales", "orders_tmp"}},
		},
		{
			name:      "temp pattern does not see the schema",
			filters:   Filters{TempTables: `sales\..*`},
			tablesIn:  []tbl{{"shop", "sales", "orders"}},
			tablesOut: []tbl{{"shop", "x", "sales.orders"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.filters.Compile()
			require.NoError(t, err)
			for _, s := range tc.schemasIn {
				require.True(t, c.SchemaIncluded(s[0], s[1]), "schema %v must be included", s)
			}
			for _, s := range tc.schemasOut {
				require.False(t, c.SchemaIncluded(s[0], s[1]), "schema %v must be excluded", s)
			}
			for _, x := range tc.tablesIn {
				require.True(t, c.TableIncluded(x.db, x.schema, x.table), "table %v must be included", x)
			}
			for _, x := range tc.tablesOut {
				require.False(t, c.TableIncluded(x.db, x.schema, x.table), "table %v must be excluded", x)
			}
		})
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"sales", `shop\.(sales|crm)`, "a|b", ".*", "(?i)x", `\Qa.b\E`, `\Qa)`, "(", "^x", `\b`,
		"(?P<n>x)", "[[:alpha:]]+", `\pL+`, "a{2,3}", "x\x00", "", "ü.", `a\`, "(?s).", "(?:)", "a**"} {
		f.Add(s, "sales")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		c, err := Filters{IncludeTables: []string{pattern}, TempTables: pattern}.Compile()
		if err != nil {
			require.Nil(t, c)
			msg := err.Error()
			require.Contains(t, msg, "include_tables")
			if pattern != "" { // an empty temp_tables means none
				require.Contains(t, msg, "temp_tables")
			}
			return
		}
		require.Len(t, c.IncludeTables, 1)
		p := c.IncludeTables[0]
		re, err := regexp.Compile(p.Anchored())
		require.NoError(t, err, "the anchored form of an accepted pattern must compile: %q", p.Anchored())
		require.Equal(t, re.MatchString(name), p.Match(name), "pattern %q on %q", pattern, name)
		require.Equal(t, p.Match(name), c.TempTables.Match(name))
		// Independently of the ^(?:...)$ wrapping: the pattern matches iff
		// its leftmost-longest match in name is the whole name.
		plain := regexp.MustCompile(pattern)
		plain.Longest()
		loc := plain.FindStringIndex(name)
		whole := loc != nil && loc[0] == 0 && loc[1] == len(name)
		require.Equal(t, whole, p.Match(name), "pattern %q on %q: match %v", pattern, name, loc)
	})
}
