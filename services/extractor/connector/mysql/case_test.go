package mysql

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

// TestCaseDistinctTables: on a server with case-sensitive table names,
// "Twin" and "twin" are two tables; information_schema compares names
// case-insensitively, so every join and grouping must keep them apart.
func TestCaseDistinctTables(t *testing.T) {
	f := loadFixture(t)
	var lower int
	require.NoError(t, f.db.QueryRow("SELECT @@lower_case_table_names").Scan(&lower))
	if lower != 0 {
		t.Skipf("lower_case_table_names=%d: this server folds table names", lower)
	}
	schema := f.prefix + "sales"
	q := quoteIdent(schema)
	_, err := f.db.Exec("CREATE TABLE " + q + ".Twin (a INT PRIMARY KEY, x INT);" +
		" CREATE TABLE " + q + ".twin (b INT, c INT, x INT, UNIQUE KEY uq (b, c), CONSTRAINT fk_twin FOREIGN KEY (x) REFERENCES " + q + ".Twin (a))")
	require.NoError(t, err)

	src := f.source()
	src.Databases = []string{schema}
	src.Filters.IncludeTables = []string{`.*\.(Twin|twin)`}
	sink, _ := extract(t, src, nil, model.WriterOptions{})

	got := map[string][]string{}
	for _, r := range sink.Rows() {
		table, _ := r.Fields["table_name"].(string)
		switch r.Kind {
		case model.KindColumn:
			flags := ""
			if r.Fields["is_primary_key"] == true {
				flags += " pk"
			}
			if r.Fields["is_foreign_key"] == true {
				flags += " fk"
			}
			got[table] = append(got[table], "column "+r.Fields["column_name"].(string)+flags)
		case model.KindConstraint:
			got[table] = append(got[table], "constraint "+r.Fields["constraint_name"].(string))
		case model.KindIndex:
			got[table] = append(got[table], "index "+r.Fields["index_name"].(string))
		case model.KindTable:
			got[table] = append(got[table], "table")
		}
	}
	require.ElementsMatch(t, []string{"table", "column a pk", "column x", "constraint PRIMARY", "index PRIMARY"}, got["Twin"])
	require.ElementsMatch(t, []string{"table", "column b", "column c", "column x fk", "constraint uq", "constraint fk_twin",
		"index uq", "index fk_twin"}, got["twin"])
}
