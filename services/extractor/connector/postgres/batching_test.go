package postgres

import (
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/stretchr/testify/require"
)

func TestSmallBatches(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	whole, _ := extract(t, source(db), model.WriterOptions{})
	small, _ := extract(t, source(db), model.WriterOptions{MaxRows: 3})

	require.Equal(t, lines(whole, db), lines(small, db))
	for _, k := range model.Kinds {
		require.Len(t, whole.Batches(k), 1, "%s: one batch by default", k)
		sizes := small.Batches(k)
		total := 0
		for _, n := range sizes {
			require.LessOrEqual(t, n, 3, "%s batch", k)
			total += n
		}
		require.Len(t, sizes, (total+2)/3, "%s: batches of 3 rows", k)
	}
	require.Greater(t, len(small.Batches(model.KindColumn)), 10)
}
