package mysql

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

// TestGolden extracts the fixture and compares it with testdata/mysql.golden
// (go test -run Golden -update rewrites it).
func TestGolden(t *testing.T) {
	f := loadFixture(t)
	sink, stats := extract(t, f.source(), nil, model.WriterOptions{})
	require.Equal(t, ExtractQueries, stats.Queries)

	lines := f.lines(sink)
	// The golden file must show every kind the engine has; MariaDB has no
	// lineage catalog (see TestLineageMariaDB).
	for _, k := range model.Kinds {
		if k == model.KindLineage {
			continue
		}
		require.Positive(t, count(sink, k), "no %s rows", k)
	}
	conntest.Golden(t, "testdata/mysql.golden", conntest.Text(lines), *update)
}

func count(sink *conntest.Sink, k model.Kind) int {
	n := 0
	for _, b := range sink.Batches(k) {
		n += b
	}
	return n
}
