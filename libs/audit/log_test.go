package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/stretchr/testify/require"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "secure-agent.test/unit"

type fixture struct {
	store  *MemStore
	log    *Log
	skey   string
	vkey   note.Verifier
	now    time.Time
	nowMu  sync.Mutex
	signer note.Signer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	skey, vkey, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: NewMemStore(), skey: skey, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if f.vkey, err = NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	if f.signer, err = NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	f.log = f.open(t)
	return f
}

func (f *fixture) clock() time.Time {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	f.now = f.now.Add(time.Second)
	return f.now
}

func (f *fixture) open(t testing.TB) *Log {
	t.Helper()
	l, err := Open(context.Background(), f.store, Options{Origin: testOrigin, Signer: f.signer, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func entry(i int) Entry {
	return Entry{Action: ActionSecretRead, Actor: "extractor", App: "extractor", Target: fmt.Sprintf("secrets/key-%d", i),
		Outcome: OutcomeOK, JobID: "job-1", Details: map[string]string{"hmac": HMAC([]byte("k"), fmt.Sprint(i))}}
}

func (f *fixture) appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; {
		batch := min(1+i%4, n-i) // batches of 1..4 entries
		es := make([]Entry, batch)
		for j := range es {
			es[j] = entry(i + j)
		}
		if _, err := l.Append(context.Background(), es...); err != nil {
			t.Fatal(err)
		}
		i += batch
	}
}

func (f *fixture) export(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.open(t).Export(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (f *fixture) verify(t testing.TB, export []byte, w *WitnessView) Report {
	t.Helper()
	rep, err := Verify(bytes.NewReader(export), VerifyOptions{Origin: testOrigin, LogKey: f.vkey, Witness: w})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// mth is RFC 6962's Merkle Tree Hash, written from the RFC's definition
// (section 2.1), to check the stored tree against.
func mth(leaves [][]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func TestAppendBuildsTheRFC6962Tree(t *testing.T) {
	f := newFixture(t)
	var bodies [][]byte
	for i := 0; i < 70; i++ {
		out, err := f.log.Append(context.Background(), entry(i))
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Seq != uint64(i) {
			t.Fatalf("seq %d, want %d", out[0].Seq, i)
		}
		b, _ := out[0].Canonical()
		bodies = append(bodies, b)
		h := f.log.Head()
		root, _ := unb64(h.Root)
		if want := mth(bodies); root != tlog.Hash(want) {
			t.Fatalf("root of %d entries differs from RFC 6962's MTH", i+1)
		}
	}
}

func TestCheckpointExportVerify(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, f.log, 10)
	cp, ok, err := f.log.Checkpoint(context.Background())
	if err != nil || !ok || cp.Size != 10 {
		t.Fatalf("checkpoint: %+v %v %v", cp, ok, err)
	}
	if _, ok, _ := f.log.Checkpoint(context.Background()); ok {
		t.Fatal("a second checkpoint without new entries was signed")
	}
	f.appendN(t, f.log, 7)
	if _, _, err := f.log.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep := f.verify(t, f.export(t), nil)
	if !rep.OK() || rep.Entries != 17 || rep.Checkpoints != 2 {
		t.Fatalf("untouched log: %+v", rep)
	}
	parsed, err := ParseCheckpoint([]byte(cp.Note), testOrigin, f.vkey)
	if err != nil || parsed.Size != 10 {
		t.Fatalf("parse checkpoint: %+v %v", parsed, err)
	}
}

func TestRestartContinuesTheSameTree(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, f.log, 9)
	l2 := f.open(t)
	f.appendN(t, l2, 5)
	if _, _, err := l2.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t, f.export(t), nil); !rep.OK() || rep.Entries != 14 {
		t.Fatalf("%+v", rep)
	}
}

// TestTwoWritersNeverFork: two writers on one store (one is the design,
// but a stale one may linger) serialise on the head's etag. Under heavy
// contention an append may give up (an error: nothing stored, the caller
// does not act); whatever was stored is one unforked log.
func TestTwoWritersNeverFork(t *testing.T) {
	f := newFixture(t)
	a, b := f.log, f.open(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for _, l := range []*Log{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				if _, err := l.Append(context.Background(), entry(i)); err == nil {
					mu.Lock()
					stored++
					mu.Unlock()
				} else if !errors.Is(err, ErrConflict) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if _, _, err := f.open(t).Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t, f.export(t), nil); !rep.OK() || rep.Entries != uint64(stored) || stored < 40 {
		t.Fatalf("%d appends stored: %+v", stored, rep)
	}
}

func TestStoreDownAppendsNothing(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, f.log, 3)
	f.store.Fail = fmt.Errorf("database is locked")
	if _, err := f.log.Append(context.Background(), entry(9)); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("append with the store down: %v", err)
	}
	f.store.Fail = nil
	f.appendN(t, f.log, 2)
	if h := f.log.Head(); h.Size != 5 {
		t.Fatalf("size %d after a failed append, want 5", h.Size)
	}
}

func TestProofs(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, f.log, 37)
	ctx := context.Background()
	recs, err := f.log.Read(ctx, 0, 37)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint64{1, 2, 13, 32, 37} {
		for seq := uint64(0); seq < size; seq += 3 {
			p, root, err := f.log.ProveEntry(ctx, seq, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(p, seq, size, recs[seq].Hashes[0], root); err != nil {
				t.Fatalf("inclusion %d in %d: %v", seq, size, err)
			}
			if err := VerifyInclusion(p, seq, size, recs[(seq+1)%size].Hashes[0], root); err == nil && size > 1 {
				t.Fatalf("inclusion of the wrong leaf %d in %d verified", seq, size)
			}
		}
	}
	for _, c := range [][2]uint64{{1, 37}, {5, 13}, {16, 32}, {31, 37}, {37, 37}} {
		p, err := f.log.ProveTree(ctx, c[1], c[0])
		if err != nil {
			t.Fatal(err)
		}
		_, oldRoot, _ := f.log.ProveEntry(ctx, 0, c[0])
		_, newRoot, _ := f.log.ProveEntry(ctx, 0, c[1])
		if err := VerifyConsistency(p, c[0], c[1], oldRoot, newRoot); err != nil {
			t.Fatalf("consistency %v: %v", c, err)
		}
		if c[0] != c[1] {
			if err := VerifyConsistency(p, c[0], c[1], newRoot, newRoot); err == nil {
				t.Fatalf("consistency %v with a wrong old root verified", c)
			}
		}
	}
	if err := VerifyConsistency(nil, 10, 5, tlog.Hash{}, tlog.Hash{}); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("rollback: %v", err)
	}
	if err := VerifyConsistency(nil, 5, 5, tlog.Hash{1}, tlog.Hash{2}); err == nil || !strings.Contains(err.Error(), "forked") {
		t.Fatalf("fork: %v", err)
	}
}

func TestPruneKeepsEveryProof(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.appendN(t, f.log, 20)
	cp, _, err := f.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Only what a witness cosigned is pruned: pretend it did.
	if err := f.log.StoreCosigned(ctx, cp); err != nil {
		t.Fatal(err)
	}
	cutoff := f.now.Add(-5 * time.Second) // the last 5 entries are newer
	n, err := f.log.Prune(ctx, cutoff, "health")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n >= 20 {
		t.Fatalf("pruned %d entries", n)
	}
	h := f.log.Head()
	if h.Size != 21 || h.PrunedBefore != uint64(n) {
		t.Fatalf("head after prune: %+v", h)
	}
	recs, _ := f.log.Read(ctx, 0, h.Size)
	last, err := ParseEntry([]byte(recs[20].Entry))
	if err != nil || last.Action != ActionAuditPruned || last.Details["entries"] != fmt.Sprint(n) {
		t.Fatalf("prune entry: %+v %v", last, err)
	}
	if !recs[0].Pruned || recs[0].Entry != "" || recs[n].Pruned {
		t.Fatalf("records 0 and %d: %+v %+v", n, recs[0], recs[n])
	}
	p, root, err := f.log.ProveEntry(ctx, 0, h.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyInclusion(p, 0, h.Size, recs[0].Hashes[0], root); err != nil {
		t.Fatalf("a pruned entry's proof: %v", err)
	}
	if _, _, err := f.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t, f.export(t), nil); !rep.OK() || rep.Pruned != uint64(n) {
		t.Fatalf("pruned log: %+v", rep)
	}
}

func TestHMACKnownAnswer(t *testing.T) {
	// Vault's audit device vector: HMAC-SHA256(key "foo", "foo").
	if got := HMAC([]byte("foo"), "foo"); got != "hmac-sha256:08ba357e274f528065766c770a639abf6809b39ccfd37c2a3157c7f51954da0a" {
		t.Fatal(got)
	}
}

func TestVerifierKeyFromSignerKey(t *testing.T) {
	skey, vkey, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifierKey(skey)
	if err != nil || got != vkey {
		t.Fatalf("VerifierKey: %q %v, want %q", got, err, vkey)
	}
	if _, err := VerifierKey("PRIVATE+KEY+x+00000000+AAAA"); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestParseEntryIsCanonical(t *testing.T) {
	e := entry(1)
	e.Seq, e.Time = 7, FormatTime(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	e.Target = "a<b>&c"
	b, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"a<b>&c"`)) {
		t.Fatalf("HTML escaped: %s", b)
	}
	got, err := ParseEntry(b)
	if err != nil || got.Seq != 7 {
		t.Fatalf("%+v %v", got, err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	spaced, _ := json.MarshalIndent(m, "", " ")
	for name, bad := range map[string][]byte{
		"spaces":        spaced,
		"trailing data": append(append([]byte(nil), b...), []byte(" {}")...),
		"unknown field": bytes.Replace(b, []byte(`{"action"`), []byte(`{"zz":1,"action"`), 1),
		"local time":    bytes.Replace(b, []byte(`Z"`), []byte(`+01:00"`), 1),
	} {
		if _, err := ParseEntry(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A request repeated (the caller's sidecar retrying a call whose answer
// was lost), to the same writer or to a second one, stores its entries
// once and answers the first sequence numbers.
func TestAppendOnceStoresARepeatedRequestOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, f.log, 2)
	const id = "0123456789abcdef0123456789abcdef"
	first, err := f.log.AppendOnce(ctx, id, entry(10), entry(11))
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0] != 2 || first[1] != 3 {
		t.Fatalf("first arrival stored as %v, want [2 3]", first)
	}
	f.appendN(t, f.log, 1)
	for _, l := range []*Log{f.log, f.open(t)} {
		again, err := l.AppendOnce(ctx, id, entry(10), entry(11))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("repeat answered %v, want %v", again, first)
		}
	}
	if h := f.open(t).Head(); h.Size != 5 {
		t.Fatalf("size %d, want 5: the repeats stored nothing", h.Size)
	}
	other, err := f.log.AppendOnce(ctx, "fedcba9876543210fedcba9876543210", entry(12))
	if err != nil || len(other) != 1 || other[0] != 5 {
		t.Fatalf("another request: %v %v", other, err)
	}
	if _, err := f.log.AppendOnce(ctx, "not-an-id", entry(13)); err == nil {
		t.Fatal("a malformed request id was accepted")
	}
	if _, _, err := f.open(t).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t, f.export(t), nil); !rep.OK() || rep.Entries != 6 {
		t.Fatalf("%+v", rep)
	}
}

// headRacer is a Store whose next LoadHead first lets another writer
// commit: the window between a commit and the read of its etag.
type headRacer struct {
	*MemStore
	before func()
}

func (r *headRacer) LoadHead(ctx context.Context) ([]byte, string, bool, error) {
	if f := r.before; f != nil {
		r.before = nil
		f()
	}
	return r.MemStore.LoadHead(ctx)
}

// A writer whose commit is followed, before it reads the new etag, by
// another writer's commit must not keep its own head with the other's
// etag: its next checkpoint would put that older head back over the
// other's entries, and no append could succeed after (seen in CI with two
// health replicas: "store 1 audit entries from 1130: … changed under this
// writer" on every append).
func TestAWriterRacedAfterItsCommitDoesNotRollTheHeadBack(t *testing.T) {
	f := newFixture(t)
	racer := &headRacer{MemStore: f.store}
	a, err := Open(context.Background(), racer, Options{Origin: testOrigin, Signer: f.signer, Now: f.clock})
	require.NoError(t, err)
	b := f.open(t)
	ctx := context.Background()
	f.appendN(t, a, 2)
	racer.before = func() {
		_, err := b.Append(ctx, entry(100)) // b reloads past a's commit and appends
		require.NoError(t, err)
	}
	_, err = a.Append(ctx, entry(3))
	require.NoError(t, err)
	_, _, err = a.Checkpoint(ctx)
	require.NoError(t, err)
	for i := range 3 {
		_, err := b.Append(ctx, entry(200+i))
		require.NoError(t, err, "b appends after a's checkpoint")
		_, err = a.Append(ctx, entry(300+i))
		require.NoError(t, err, "a appends after its checkpoint")
	}
	_, _, err = f.open(t).Checkpoint(ctx)
	require.NoError(t, err)
	rep := f.verify(t, f.export(t), nil)
	require.True(t, rep.OK(), "%+v", rep)
	require.Equal(t, uint64(10), rep.Entries)
}
