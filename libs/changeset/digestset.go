package changeset

import (
	"context"
	"hash/maphash"
	"slices"
	"strings"
)

// KeyRange is a range of qualified names, Lo included and Hi not.
type KeyRange struct{ Lo, Hi string }

// Has reports whether qn is in the range.
func (r KeyRange) Has(qn string) bool { return qn >= r.Lo && qn < r.Hi }

// Under is the range of qn and every name below it (qn + "/…"): '0'
// follows '/'.
func Under(qn string) KeyRange { return KeyRange{Lo: qn, Hi: qn + "0"} }

// Exactly is the range of qn alone.
func Exactly(qn string) KeyRange { return KeyRange{Lo: qn, Hi: qn + "\x00"} }

// DigestSet holds the digests of some of a run's assets, by a 128-bit
// hash of their kind and name: what an incremental partition classifies
// its rows against. It costs 40 bytes an asset, whatever its name.
type DigestSet struct {
	s1, s2 maphash.Seed
	keys   []digestKey // sorted
}

type digestKey struct {
	h1, h2 uint64
	d      [DigestSize]byte
}

func (s *DigestSet) key(k, qn string) (uint64, uint64) {
	var a, b maphash.Hash
	a.SetSeed(s.s1)
	b.SetSeed(s.s2)
	for _, h := range []*maphash.Hash{&a, &b} {
		h.WriteString(k)
		h.WriteByte(0)
		h.WriteString(qn)
	}
	return a.Sum64(), b.Sum64()
}

func cmpKey(a, b digestKey) int {
	if a.h1 != b.h1 {
		if a.h1 < b.h1 {
			return -1
		}
		return 1
	}
	switch {
	case a.h2 < b.h2:
		return -1
	case a.h2 > b.h2:
		return 1
	}
	return 0
}

// Len is the number of assets held.
func (s *DigestSet) Len() int { return len(s.keys) }

// Unchanged reports whether the set holds e's asset with e's digest.
func (s *DigestSet) Unchanged(e Entry) bool {
	if s == nil {
		return false
	}
	h1, h2 := s.key(string(e.Kind), e.QualifiedName)
	i, ok := slices.BinarySearchFunc(s.keys, digestKey{h1: h1, h2: h2}, cmpKey)
	return ok && s.keys[i].d == e.Digest
}

// LoadDigests reads the assets of the run x lists whose names fall in one
// of ranges and that keep (nil: all) admits, reading only the chunks that
// may hold such names (every chunk of a run kept in one file).
func LoadDigests(ctx context.Context, store Store, x Index, ranges []KeyRange, keep func(Entry) bool) (*DigestSet, error) {
	s := &DigestSet{s1: maphash.MakeSeed(), s2: maphash.MakeSeed()}
	sub := x
	sub.Chunks, sub.Entries = nil, 0
	for i, c := range x.Chunks {
		if len(x.Chunks) > 1 && !chunkMayHold(x.Chunks, i, ranges) {
			continue
		}
		sub.Chunks = append(sub.Chunks, c)
		sub.Entries += c.Entries
	}
	r := NewRunReader(ctx, store, sub)
	defer r.Close()
	for {
		e, ok, err := r.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if !slices.ContainsFunc(ranges, func(kr KeyRange) bool { return kr.Has(e.QualifiedName) }) || (keep != nil && !keep(e)) {
			continue
		}
		h1, h2 := s.key(string(e.Kind), e.QualifiedName)
		s.keys = append(s.keys, digestKey{h1: h1, h2: h2, d: e.Digest})
	}
	slices.SortFunc(s.keys, cmpKey)
	return s, nil
}

// chunkMayHold reports whether chunk i, which holds names from its first
// one to the next chunk's first one (both included: one name's kinds may
// straddle two chunks), may hold a name in one of ranges.
func chunkMayHold(chunks []Chunk, i int, ranges []KeyRange) bool {
	lo := chunks[i].First
	for _, r := range ranges {
		if lo >= r.Hi {
			continue
		}
		if i+1 == len(chunks) || strings.Compare(chunks[i+1].First, r.Lo) >= 0 {
			return true
		}
	}
	return false
}
