package mysql

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

// bigSchema adds a schema of n chained tables, each with a foreign key,
// unique and check constraints and indexes, plus views, a partitioned
// table and routines: every kind grows with n.
func (f fixture) bigSchema(t *testing.T, n int) string {
	t.Helper()
	schema := f.prefix + "big"
	q := quoteIdent(schema)
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE DATABASE %s;", q)
	for i := range n {
		fk := ""
		if i > 0 {
			fk = fmt.Sprintf(", CONSTRAINT fk_t%02d FOREIGN KEY (parent_id) REFERENCES %s.t%02d (id)", i, q, i-1)
		}
		fmt.Fprintf(&b, "CREATE TABLE %s.t%02d (id INT PRIMARY KEY, parent_id INT, name VARCHAR(50) NOT NULL DEFAULT 'x',"+
			" amount INT CHECK (amount >= 0), UNIQUE KEY uq_name (name), KEY ix_parent_name (parent_id, name)%s) COMMENT 'table %d';",
			q, i, fk, i)
	}
	for i := range n / 10 {
		fmt.Fprintf(&b, "CREATE VIEW %s.v%02d AS SELECT id, name FROM %s.t%02d;", q, i, q, i)
		fmt.Fprintf(&b, "CREATE FUNCTION %s.f%02d(a INT, b INT) RETURNS INT DETERMINISTIC RETURN a + b;", q, i)
	}
	fmt.Fprintf(&b, "CREATE TABLE %s.parts (id INT, y INT) PARTITION BY HASH (y) PARTITIONS %d;", q, n/10)
	_, err := f.db.Exec(b.String())
	require.NoError(t, err, "create big schema")
	return schema
}

// TestQueryCountIsFixed extracts a small and a large catalog and requires
// the same, documented number of statements.
func TestQueryCountIsFixed(t *testing.T) {
	f := loadFixture(t)
	small, smallStats := extract(t, f.source(), nil, model.WriterOptions{})

	big := f.bigSchema(t, 60)
	src := f.source()
	src.Databases = append(src.Databases, big)
	large, largeStats := extract(t, src, nil, model.WriterOptions{})

	require.GreaterOrEqual(t, count(large, model.KindTable)-count(small, model.KindTable), 60+6+6)
	for _, k := range []model.Kind{model.KindColumn, model.KindConstraint, model.KindIndex, model.KindRoutine, model.KindTableStats} {
		require.Greater(t, count(large, k), count(small, k)+5, "%s rows should grow with the catalog", k)
	}
	require.Equal(t, ExtractQueries, smallStats.Queries, "small catalog")
	require.Equal(t, ExtractQueries, largeStats.Queries, "large catalog")
}
