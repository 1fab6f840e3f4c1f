package postgres

import (
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

func TestGolden(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	sink, st := extract(t, source(db), model.WriterOptions{})

	require.Equal(t, QueriesFixed+QueriesPerDatabase, st.Queries)
	for _, k := range model.Kinds {
		require.NotEmpty(t, sink.Batches(k), "no %s rows", k)
	}
	conntest.Golden(t, "testdata/postgres.golden", conntest.Text(lines(sink, db)), *update)
}
