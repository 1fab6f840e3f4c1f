package changeset

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCompareRuns measures both passes over 20 partition runs and a
// base of the same assets, writing the next state, per asset.
func BenchmarkCompareRuns(b *testing.B) {
	ctx := context.Background()
	st := newMemStore()
	all := synthetic(400_000, "a")
	parts := make([][]Entry, 20)
	for i, e := range all {
		parts[(i/20_000)%20] = append(parts[(i/20_000)%20], e)
	}
	var xs []Index
	for i, p := range parts {
		x, err := LoadIndex(ctx, st, writeRunB(b, st, fmt.Sprintf("d%d/", i), p))
		if err != nil {
			b.Fatal(err)
		}
		xs = append(xs, x)
	}
	bx, err := LoadIndex(ctx, st, writeRunB(b, st, "base/", all))
	if err != nil {
		b.Fatal(err)
	}
	sc := allReadable("db")
	b.ResetTimer()
	for range b.N {
		seen := func() (Iterator, error) {
			its := make([]Iterator, len(xs))
			for i, x := range xs {
				its[i] = NewRunReader(ctx, st, x)
			}
			return Merge(its...), nil
		}
		d, err := CompareRuns(func() (Iterator, error) { return NewRunReader(ctx, st, bx), nil }, seen, sc, Options{})
		if err != nil {
			b.Fatal(err)
		}
		w := NewRunWriter(st, "next/", Meta{Connection: conn, JobID: "j"})
		if err := d.Emit(Emit{Next: func(e Entry) error { return w.Add(ctx, e) }}); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(all)), "ns/asset")
}

func writeRunB(b *testing.B, st Store, prefix string, entries []Entry) RunRef {
	ctx := context.Background()
	w := NewRunWriter(st, prefix, Meta{Connection: conn, JobID: "j"})
	for _, e := range entries {
		if err := w.Add(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	ref, err := w.Close(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return ref
}
