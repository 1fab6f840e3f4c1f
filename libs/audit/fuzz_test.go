package audit

import (
	"bytes"
	"context"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// FuzzParseEntry: the decoder never panics, and what it accepts is
// exactly the canonical encoding of what it returns (one entry, one hash).
func FuzzParseEntry(f *testing.F) {
	e := entry(1)
	e.Time = "2026-01-02T03:04:05.000000006Z"
	b, _ := e.Canonical()
	f.Add(b)
	f.Add([]byte(`{"action":"x","actor":"a","app":"a","outcome":"ok","seq":0,"target":"","time":"2026-01-02T03:04:05.000000000Z"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"action":"x","details":{"A":"1"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseEntry(in)
		if err != nil {
			return
		}
		c, err := got.Canonical()
		if err != nil {
			t.Fatalf("accepted entry does not encode: %v", err)
		}
		if !bytes.Equal(c, in) {
			t.Fatalf("accepted a non-canonical entry:\n in %q\nout %q", in, c)
		}
	})
}

// FuzzParseCheckpoint: the parser never panics; a note it accepts carries
// the log's valid signature over exactly the checkpoint it returns.
func FuzzParseCheckpoint(f *testing.F) {
	fx := newFixture(f)
	fx.appendN(f, fx.log, 5)
	cp, _, err := fx.log.Checkpoint(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(cp.Note))
	f.Add([]byte("secure-agent.test/unit\n5\nAAAA\n\n— x AAAA\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseCheckpoint(in, testOrigin, fx.vkey)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(in, []byte(testOrigin+"\n")) || got.Origin != testOrigin {
			t.Fatalf("accepted a checkpoint of another origin: %q", in)
		}
		if string(in) != cp.Note && got.Size == cp.Size && got.Root == mustRoot(t, fx) && bytes.Equal(sigLines(in), sigLines([]byte(cp.Note))) {
			return
		}
		// Anything accepted must be signed by the log: the only signed
		// checkpoint the fuzzer can know is the seed.
		body, _, _ := bytes.Cut(in, []byte("\n\n"))
		want, _, _ := bytes.Cut([]byte(cp.Note), []byte("\n\n"))
		if !bytes.Equal(body, want) {
			t.Fatalf("accepted a checkpoint text the log never signed: %q", in)
		}
	})
}

func mustRoot(t *testing.T, fx *fixture) tlog.Hash {
	h, err := unb64(fx.log.Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sigLines(note []byte) []byte {
	_, sigs, _ := bytes.Cut(note, []byte("\n\n"))
	return sigs
}

// FuzzAddCheckpointRequest: the witness request parser never panics and
// what it accepts re-encodes to the same bytes.
func FuzzAddCheckpointRequest(f *testing.F) {
	f.Add(AddCheckpointRequest{OldSize: 3, Proof: []tlog.Hash{{1}, {2}}, Checkpoint: []byte("o\n5\nAAAA\n\n— o AAAA\n")}.Marshal())
	f.Add([]byte("old 0\n\nx"))
	f.Add([]byte("old 01\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseAddCheckpointRequest(in)
		if err != nil {
			return
		}
		if out := r.Marshal(); !bytes.Equal(out, in) {
			t.Fatalf("accepted %q but it encodes as %q", in, out)
		}
	})
}

// FuzzVerifyProof: inclusion and consistency checks never panic and never
// accept a proof, leaf or root other than the true ones.
func FuzzVerifyProof(f *testing.F) {
	fx := newFixture(f)
	fx.appendN(f, fx.log, 23)
	ctx := context.Background()
	recs, err := fx.log.Read(ctx, 0, 23)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint64(4), uint64(23), uint64(9), uint(0), byte(0))
	f.Add(uint64(0), uint64(1), uint64(1), uint(3), byte(1))
	f.Add(uint64(22), uint64(23), uint64(23), uint(40), byte(0x80))
	f.Fuzz(func(t *testing.T, seq, size, old uint64, flipAt uint, flip byte) {
		size = size%23 + 1
		seq %= size
		old %= size + 1
		p, root, err := fx.log.ProveEntry(ctx, seq, size)
		if err != nil {
			t.Fatal(err)
		}
		leaf := recs[seq].Hashes[0]
		if err := VerifyInclusion(p, seq, size, leaf, root); err != nil {
			t.Fatalf("true inclusion proof refused: %v", err)
		}
		raw := flatten(p, leaf, root)
		if flip != 0 {
			raw[int(flipAt)%len(raw)] ^= flip
			q, l2, r2 := unflatten(raw, len(p))
			if VerifyInclusion(q, seq, size, l2, r2) == nil {
				t.Fatalf("altered inclusion proof of %d in %d accepted", seq, size)
			}
		}
		tp, err := fx.log.ProveTree(ctx, size, old)
		if err != nil {
			t.Fatal(err)
		}
		var oldRoot tlog.Hash
		if old > 0 {
			_, oldRoot, _ = fx.log.ProveEntry(ctx, 0, old)
		}
		if err := VerifyConsistency(tp, old, size, oldRoot, root); err != nil {
			t.Fatalf("true consistency proof %d→%d refused: %v", old, size, err)
		}
		if flip != 0 && old > 0 && old < size {
			raw := flatten(tp, oldRoot, root)
			raw[int(flipAt)%len(raw)] ^= flip
			q, o2, r2 := unflatten(raw, len(tp))
			if VerifyConsistency(q, old, size, o2, r2) == nil {
				t.Fatalf("altered consistency proof %d→%d accepted", old, size)
			}
		}
	})
}

func flatten(p []tlog.Hash, a, b tlog.Hash) []byte {
	var out []byte
	for _, h := range p {
		out = append(out, h[:]...)
	}
	out = append(out, a[:]...)
	return append(out, b[:]...)
}

func unflatten(raw []byte, n int) ([]tlog.Hash, tlog.Hash, tlog.Hash) {
	p := make([]tlog.Hash, n)
	for i := range p {
		copy(p[i][:], raw[i*32:])
	}
	var a, b tlog.Hash
	copy(a[:], raw[n*32:])
	copy(b[:], raw[n*32+32:])
	return p, a, b
}

// FuzzVerifyExport: the verifier reads anything without panicking, and a
// changed export of a good log is never reported clean unless the change
// kept every entry and checkpoint byte (whitespace between lines).
func FuzzVerifyExport(f *testing.F) {
	fx := newFixture(f)
	fx.appendN(f, fx.log, 6)
	_, _, _ = fx.log.Checkpoint(context.Background())
	good := fx.export(f)
	f.Add(good)
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"record":{"seq":0,"hashes":[]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		rep, err := Verify(bytes.NewReader(in), VerifyOptions{Origin: testOrigin, LogKey: fx.vkey})
		if err != nil {
			return
		}
		if rep.OK() && rep.Entries+rep.Pruned > 6 {
			t.Fatalf("a log with entries the key never signed verified: %+v", rep)
		}
	})
}
