//go:build runtimecheck

// Package statecheck tests the SQLite state store daprd is built with, in
// the patched source tree build.sh prepares (it runs `go test -tags
// runtimecheck` here before it builds daprd; run the same in this folder to
// see the upstream bug). components-contrib v1.16.5's state.sqlite BulkGet
// never asked rows.Err(): a read whose context ended part-way answered every
// key it had not reached yet as absent, with no error. The workflow engine
// loads an instance's history with one BulkGet and skips absent events, so a
// workflow actor got a history with a hole in it and the job failed with a
// replay mismatch (patches/state-sqlite-dbaccess.go.txt).
package statecheck

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dapr/components-contrib/metadata"
	"github.com/dapr/components-contrib/state"
	"github.com/dapr/components-contrib/state/sqlite"
	"github.com/dapr/kit/logger"
)

func TestABulkGetEndedByItsDeadlineFailsInsteadOfAnsweringAbsentKeys(t *testing.T) {
	store := sqlite.NewSQLiteStateStore(logger.NewLogger("statecheck"))
	err := store.Init(context.Background(), state.Metadata{Base: metadata.Base{Properties: map[string]string{
		"connectionString": "file:" + filepath.Join(t.TempDir(), "state.db"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.(interface{ Close() error }).Close()

	// A workflow history's worth of keys, each with a value the size of a
	// history event.
	const keys = 400
	value := make([]byte, 512)
	reqs := make([]state.GetRequest, keys)
	for i := range keys {
		key := fmt.Sprintf("app||wf||instance||history-%06d", i)
		reqs[i] = state.GetRequest{Key: key}
		if err := store.Set(context.Background(), &state.SetRequest{Key: key, Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := store.BulkGet(context.Background(), reqs, state.BulkGetOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if n := present(full); n != keys {
		t.Fatalf("an undisturbed read answered %d of %d keys", n, keys)
	}

	// Deadlines across the length of one read end some reads before they
	// start and some part-way; a read that ends part-way must fail.
	start := time.Now()
	if _, err := store.BulkGet(context.Background(), reqs, state.BulkGetOpts{}); err != nil {
		t.Fatal(err)
	}
	span := time.Since(start)
	failed, complete := 0, 0
	for i := range 1500 {
		ctx, cancel := context.WithTimeout(context.Background(), span*time.Duration(i%150)/100)
		res, err := store.BulkGet(ctx, reqs, state.BulkGetOpts{})
		cancel()
		if err != nil {
			failed++
			continue
		}
		if n := present(res); n != keys {
			t.Fatalf("read %d (deadline %s of a %s read) answered %d of %d stored keys and no error: a read ended by its deadline reported the keys it had not reached as absent",
				i, span*time.Duration(i%150)/100, span, n, keys)
		}
		complete++
	}
	if failed == 0 {
		t.Fatal("no read ended by its deadline: the check exercised nothing")
	}
	t.Logf("reads of %d keys (%s each): %d failed at their deadline, %d answered every key", keys, span, failed, complete)
}

func present(res []state.BulkGetResponse) int {
	n := 0
	for _, r := range res {
		if len(r.Data) > 0 {
			n++
		}
	}
	return n
}
