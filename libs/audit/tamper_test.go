package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func (m *MemStore) snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.kv)
}

func (m *MemStore) restore(kv map[string][]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kv = maps.Clone(kv)
	m.etag++
}

func editRecord(t *testing.T, s *MemStore, seq uint64, fn func(*record)) {
	t.Helper()
	raw, ok := s.Raw(entryKey(seq))
	if !ok {
		t.Fatalf("no entry %d", seq)
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	fn(&r)
	b, _ := json.Marshal(r)
	s.Set(entryKey(seq), b)
}

func editHead(t *testing.T, s *MemStore, fn func(*Head)) {
	t.Helper()
	raw, _ := s.Raw(headKey)
	var h Head
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	fn(&h)
	b, _ := json.Marshal(h)
	s.Set(headKey, b)
}

// TestTamperMatrix tampers with a log's storage the way someone on the
// host could and checks the verifier names each case and its first entry.
func TestTamperMatrix(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T) (*fixture, map[string][]byte, WitnessView) {
		f := newFixture(t)
		f.appendN(t, f.log, 10)
		if _, _, err := f.log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		early := f.store.snapshot()
		f.appendN(t, f.log, 10)
		cp, _, err := f.log.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := ParseCheckpoint([]byte(cp.Note), testOrigin, f.vkey)
		if err != nil {
			t.Fatal(err)
		}
		return f, early, WitnessView{Size: parsed.Size, Root: parsed.Root}
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, f *fixture, early map[string][]byte)
		kind   string
		seq    int64
	}{
		{"untouched", func(*testing.T, *fixture, map[string][]byte) {}, "", -1},
		{"one byte of an entry changed", func(t *testing.T, f *fixture, _ map[string][]byte) {
			editRecord(t, f.store, 5, func(r *record) { r.Body = strings.Replace(r.Body, "key-5", "key-6", 1) })
		}, "changed", 5},
		{"an entry deleted", func(t *testing.T, f *fixture, _ map[string][]byte) {
			f.store.Set(entryKey(7), nil)
		}, "missing", 7},
		{"two entries swapped", func(t *testing.T, f *fixture, _ map[string][]byte) {
			a, _ := f.store.Raw(entryKey(3))
			b, _ := f.store.Raw(entryKey(4))
			f.store.Set(entryKey(3), b)
			f.store.Set(entryKey(4), a)
		}, "out-of-order", 3},
		{"tail truncated", func(t *testing.T, f *fixture, _ map[string][]byte) {
			for s := uint64(15); s < 20; s++ {
				f.store.Set(entryKey(s), nil)
			}
			editHead(t, f.store, func(h *Head) { h.Size = 15 })
		}, "truncated", 15},
		{"rolled back to an earlier copy", func(t *testing.T, f *fixture, early map[string][]byte) {
			f.store.restore(early)
		}, "rolled-back", 10},
		{"forked: rewritten and re-signed with the host's key", func(t *testing.T, f *fixture, _ map[string][]byte) {
			// The attacker holds the signing key: rewrite entry 12 and
			// every hash after it, and re-sign the checkpoint.
			g := &fixture{store: NewMemStore(), signer: f.signer, vkey: f.vkey, now: f.now}
			g.log = g.open(t)
			g.appendN(t, g.log, 12)
			e := entry(99)
			if _, err := g.log.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			g.appendN(t, g.log, 7)
			if _, _, err := g.log.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			f.store.restore(g.store.snapshot())
		}, "forked", 0}, // the witness saw only size 20: the rewrite is somewhere in 0..19
		{"a checkpoint signature replaced", func(t *testing.T, f *fixture, _ map[string][]byte) {
			raw, _ := f.store.Raw(checkpointKey(20))
			var cp CheckpointRecord
			_ = json.Unmarshal(raw, &cp)
			other, _, _ := GenerateKey(testOrigin)
			s, _ := NewSigner(other)
			text := cp.Note[:strings.Index(cp.Note, "\n\n")+1]
			// Keep the log key's name and hash but another key's bytes.
			forged, _ := note.Sign(&note.Note{Text: text}, keyHashAs{s, f.vkey.KeyHash()})
			cp.Note = string(forged)
			b, _ := json.Marshal(cp)
			f.store.Set(checkpointKey(20), b)
		}, "bad-signature", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, early, w := build(t)
			c.tamper(t, f, early)
			rep := f.verify(t, f.export(t), &w)
			p, bad := rep.First()
			if c.kind == "" {
				if bad {
					t.Fatalf("untouched log reported: %v", rep.Problems)
				}
				return
			}
			if !bad {
				t.Fatalf("not detected: %+v", rep)
			}
			if p.Kind != c.kind || p.Seq != c.seq {
				t.Fatalf("first problem %v, want kind %s at entry %d (all: %v)", p, c.kind, c.seq, rep.Problems)
			}
		})
	}
}

// keyHashAs signs with s but claims another key's hash, as a forger
// replacing a signature would.
type keyHashAs struct {
	note.Signer
	hash uint32
}

func (k keyHashAs) KeyHash() uint32 { return k.hash }

func TestVerifyReadsAnExportedFile(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, f.log, 3)
	_, _, _ = f.log.Checkpoint(context.Background())
	exp := f.export(t)
	// A line that is not an export line is a problem, not a crash.
	bad := append(append([]byte(nil), exp...), []byte("{\"nope\":1}\n")...)
	rep := f.verify(t, bad, nil)
	if p, ok := rep.First(); !ok || p.Kind != "malformed" {
		t.Fatalf("%+v", rep)
	}
	if rep := f.verify(t, bytes.TrimSpace(exp), nil); !rep.OK() {
		t.Fatalf("%+v", rep)
	}
}
