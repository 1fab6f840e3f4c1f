package cli

import (
	"bufio"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

type nopSink struct{ n int }

func (s *nopSink) WriteRecord(model.Kind, arrow.Record) error { s.n++; return nil }

func TestProgressReportsCountsOnEachTick(t *testing.T) {
	p := &progress{}
	next := &nopSink{}
	counts := map[model.Kind]int64{model.KindColumn: 20, model.KindTable: 5}
	sink := &progressSink{next: next, p: p, counts: func() map[model.Kind]int64 { return counts }}

	pr, pw := io.Pipe()
	ticks, stop, done := make(chan time.Time), make(chan struct{}), make(chan struct{})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	go func() {
		defer close(done)
		p.report(ticks, stop, start, pw)
	}()
	lines := bufio.NewReader(pr)

	ticks <- start.Add(2 * time.Second)
	line, err := lines.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "agentctl extract: 2s reading the catalog, no batch written yet\n", line)

	// A flushed batch refreshes the counts; kinds print in model order.
	require.NoError(t, sink.WriteRecord(model.KindTable, nil))
	require.Equal(t, 1, next.n)
	ticks <- start.Add(4 * time.Second)
	line, err = lines.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "agentctl extract: 4s table=5 column=20\n", line)

	close(stop)
	<-done
}
