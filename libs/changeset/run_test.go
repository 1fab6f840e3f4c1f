package changeset

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

// memStore is a Store in memory that counts reads.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
	gets  int
}

func newMemStore() *memStore { return &memStore{files: map[string][]byte{}} }

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	d, ok := m.files[key]
	if !ok {
		return nil, fmt.Errorf("%s: no such file", key)
	}
	return d, nil
}

func (m *memStore) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[key] = append([]byte(nil), data...)
	return nil
}

// synthetic makes n sorted entries of tables and their columns.
func synthetic(n int, salt string) []Entry {
	out := make([]Entry, 0, n)
	for i := 0; len(out) < n; i++ {
		table := fmt.Sprintf("%s/db/s/t%07d", conn, i)
		for j := 0; j < 4 && len(out) < n; j++ {
			e := Entry{Kind: model.KindTable, QualifiedName: table, Fields: []uint32{uint32(i), 7}}
			if j > 0 {
				e = Entry{Kind: model.KindColumn, QualifiedName: fmt.Sprintf("%s/c%d", table, j), Fields: []uint32{uint32(j)}}
			}
			copy(e.Digest[:], salt+e.QualifiedName)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, Compare)
	return out
}

func writeRun(t *testing.T, st Store, prefix, job string, entries []Entry) RunRef {
	t.Helper()
	ctx := context.Background()
	w := NewRunWriter(st, prefix, Meta{Connection: conn, JobID: job})
	for _, e := range entries {
		require.NoError(t, w.Add(ctx, e))
	}
	ref, err := w.Close(ctx)
	require.NoError(t, err)
	return ref
}

func readAll(t *testing.T, it Iterator) ([]Entry, error) {
	t.Helper()
	var out []Entry
	for {
		e, ok, err := it.Next()
		if err != nil || !ok {
			return out, err
		}
		out = append(out, e)
	}
}

func TestRunRoundTripInChunks(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	entries := synthetic(2*ChunkEntries+5, "a")
	ref := writeRun(t, st, "state/job-1/", "job-1", entries)
	require.Equal(t, len(entries), ref.Entries)
	x, err := LoadIndex(ctx, st, ref)
	require.NoError(t, err)
	require.Len(t, x.Chunks, 3)
	require.Equal(t, entries[ChunkEntries].QualifiedName, x.Chunks[1].First)
	got, err := readAll(t, NewRunReader(ctx, st, x))
	require.NoError(t, err)
	require.Equal(t, entries, got)
	require.NoError(t, Verify(ctx, st, x))
	require.True(t, model.IsFramed(st.files[x.Chunks[0].Key]), "a chunk is one zstd frame")

	// A chunk changed in the store is refused by the reader and by Verify.
	k := x.Chunks[1].Key
	good := st.files[k]
	st.files[k] = append([]byte(nil), good...)
	st.files[k][len(good)/2] ^= 0xff
	_, err = readAll(t, NewRunReader(ctx, st, x))
	require.ErrorContains(t, err, "changed or corrupted")
	require.ErrorContains(t, Verify(ctx, st, x), k)
	st.files[k] = good

	// So is an index changed, and a run whose chunks are swapped.
	bad := ref
	bad.SHA256 = strings.Repeat("0", 64)
	_, err = LoadIndex(ctx, st, bad)
	require.ErrorContains(t, err, "changed or corrupted")
	swapped := x
	swapped.Chunks = []Chunk{x.Chunks[1], x.Chunks[0], x.Chunks[2]}
	_, err = readAll(t, NewRunReader(ctx, st, swapped))
	require.ErrorContains(t, err, "out of order")

	// A run is written sorted, each asset once.
	w := NewRunWriter(st, "bad/", Meta{Connection: conn})
	require.NoError(t, w.Add(ctx, entries[1]))
	require.ErrorContains(t, w.Add(ctx, entries[1]), "listed twice")
	require.ErrorContains(t, w.Add(ctx, entries[0]), "must be sorted")
}

func TestSingleFileRunIsReadLikeAChunkedOne(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	entries := synthetic(100, "a")
	s, err := NewSnapshot(Meta{Connection: conn, JobID: "job-old"}, entries)
	require.NoError(t, err)
	data, err := s.Encode()
	require.NoError(t, err)
	require.NoError(t, st.Put(ctx, "catalog-state/x/job-old.arrows", data))
	x := SingleFile("catalog-state/x/job-old.arrows", sha(data), len(entries))
	got, err := readAll(t, NewRunReader(ctx, st, x))
	require.NoError(t, err)
	require.Equal(t, entries, got)
	set, err := LoadDigests(ctx, st, x, []KeyRange{Under(conn)}, nil)
	require.NoError(t, err)
	require.Equal(t, len(entries), set.Len())
	require.True(t, set.Unchanged(entries[42]))
}

func TestMergeAndDigestSets(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	all := synthetic(3*ChunkEntries, "a")
	// Three partitions, interleaved in name order.
	parts := make([][]Entry, 3)
	for i, e := range all {
		parts[(i/500)%3] = append(parts[(i/500)%3], e)
	}
	var its []Iterator
	for i, p := range parts {
		x, err := LoadIndex(ctx, st, writeRun(t, st, fmt.Sprintf("digests/p%d/", i), "job-1", p))
		require.NoError(t, err)
		its = append(its, NewRunReader(ctx, st, x))
	}
	got, err := readAll(t, Merge(its...))
	require.NoError(t, err)
	require.Equal(t, all, got)

	_, err = readAll(t, Merge(Slice(all[:10]), Slice(all[5:20])))
	require.ErrorContains(t, err, "listed twice")

	x, err := LoadIndex(ctx, st, writeRun(t, st, "state/", "job-1", all))
	require.NoError(t, err)
	require.Len(t, x.Chunks, 3)

	// The digests under one table in the middle chunk: only that chunk is
	// read, and only that table's entries are held.
	mid := all[ChunkEntries+100]
	table := mid.QualifiedName
	if mid.Kind != model.KindTable {
		table = table[:strings.LastIndexByte(table, '/')]
	}
	st.gets = 0
	set, err := LoadDigests(ctx, st, x, []KeyRange{Under(table)}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, st.gets)
	require.Equal(t, 4, set.Len(), "the table and its three columns")
	require.True(t, set.Unchanged(mid))
	changed := mid
	changed.Digest[0] ^= 1
	require.False(t, set.Unchanged(changed))
	require.False(t, set.Unchanged(all[0]), "outside the range")

	// Two ranges at both ends, one filtered: only the first and last
	// chunks are read.
	st.gets = 0
	first, last := all[0].QualifiedName, all[len(all)-1].QualifiedName
	set, err = LoadDigests(ctx, st, x, []KeyRange{Exactly(first), Under(last[:strings.LastIndexByte(last, '/')])},
		func(e Entry) bool { return e.Kind == model.KindColumn })
	require.NoError(t, err)
	require.Equal(t, 2, st.gets)
	require.False(t, set.Unchanged(all[0]), "a table, filtered out")
	require.True(t, set.Unchanged(all[len(all)-1]))
}

// TestStreamingCompareMatchesFinish checks the two passes over chunked
// runs against the in-memory Finish on random changes.
func TestStreamingCompareMatchesFinish(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 5 {
		st := newMemStore()
		base := synthetic(ChunkEntries+3000, "a")
		var seen []Entry
		for _, e := range base {
			switch r := rng.IntN(100); {
			case r < 3: // gone
			case r < 8: // changed
				e.Digest[0] ^= 1
				e.Fields = []uint32{e.Fields[0] + 1}
				seen = append(seen, e)
			default:
				seen = append(seen, e)
			}
		}
		for _, e := range synthetic(1000, "b") { // new tables at the end
			e.QualifiedName = strings.Replace(e.QualifiedName, "/s/t", "/s/u", 1)
			seen = append(seen, e)
		}
		for i := range seen {
			if strings.Contains(seen[i].QualifiedName, "/t0000") && seen[i].Kind == model.KindTable {
				seen[i].QualifiedName += "x" // renamed: created, and the old one gone
			}
		}
		sc := allReadable("db")
		opts := Options{MaxDeletionShare: []float64{0.01, 0.5}[round%2]}
		baseSnap, err := NewSnapshot(Meta{Connection: conn, JobID: "job-1"}, append([]Entry(nil), base...))
		require.NoError(t, err)
		want, err := Finish(baseSnap, append([]Entry(nil), seen...), sc, opts, Meta{Connection: conn, JobID: "job-2"})
		require.NoError(t, err)

		seenSnap, err := NewSnapshot(Meta{Connection: conn}, seen)
		require.NoError(t, err)
		var its []func() Iterator
		half := seenSnap.Len() / 2
		for i, part := range [][]Entry{seenSnap.Entries()[:half], seenSnap.Entries()[half:]} {
			x, err := LoadIndex(ctx, st, writeRun(t, st, fmt.Sprintf("d%d/", i), "job-2", part))
			require.NoError(t, err)
			its = append(its, func() Iterator { return NewRunReader(ctx, st, x) })
		}
		bx, err := LoadIndex(ctx, st, writeRun(t, st, "base/", "job-1", base))
		require.NoError(t, err)
		d, err := CompareRuns(func() (Iterator, error) { return NewRunReader(ctx, st, bx), nil },
			func() (Iterator, error) { return Merge(its[0](), its[1]()), nil }, sc, opts)
		require.NoError(t, err)
		require.Equal(t, want.Counts, d.Counts)
		require.Equal(t, want.FailSafes, d.FailSafes)
		w := NewRunWriter(st, "next/", Meta{Connection: conn, JobID: "job-2"})
		var tombs []Tombstone
		require.NoError(t, d.Emit(Emit{Next: func(e Entry) error { return w.Add(ctx, e) },
			Tombstone: func(tb Tombstone) error { tombs = append(tombs, tb); return nil }}))
		ref, err := w.Close(ctx)
		require.NoError(t, err)
		require.Equal(t, want.Tombstones, tombs)
		require.Equal(t, want.Next.Len(), ref.Entries)
		require.Equal(t, d.NextEntries, ref.Entries)
		nx, err := LoadIndex(ctx, st, ref)
		require.NoError(t, err)
		got, err := readAll(t, NewRunReader(ctx, st, nx))
		require.NoError(t, err)
		require.Equal(t, want.Next.Entries(), got)
	}
}
