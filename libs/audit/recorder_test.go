package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// scriptedWriter answers appends from a script of errors (nil: stored),
// remembering the request ids it was sent.
type scriptedWriter struct {
	mu      sync.Mutex
	answers []error
	ids     []string
}

func (w *scriptedWriter) InvokeJSON(_ context.Context, _, _, _ string, in, out any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	req := in.(AppendRequest)
	w.ids = append(w.ids, req.RequestID)
	var err error
	if len(w.answers) > 0 {
		err, w.answers = w.answers[0], w.answers[1:]
	}
	if err != nil {
		return err
	}
	seqs := make([]uint64, len(req.Entries))
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	*out.(*AppendResponse) = AppendResponse{Seqs: seqs}
	return nil
}

func entryFor(action string) Entry {
	return Entry{Action: action, Target: "jobs/j/p/file", Outcome: OutcomeOK}
}

// A writer replica killed mid-call (the callee's sidecar answers 500
// "error invoking app channel: EOF") may have stored the entries: the
// append is sent again with the same request id, which the writer stores
// once, and the action goes ahead.
func TestRemoteRepeatsAnAppendThatMayHaveReachedTheWriter(t *testing.T) {
	w := &scriptedWriter{answers: []error{
		errkind.New(errkind.Internal, `POST /v1/audit/entries on health answered 500: error invoking app channel: Post "http://127.0.0.1:1/v1/audit/entries": EOF`),
		errkind.New(errkind.Transient, "POST /v1/audit/entries on health answered 503: no replica"),
	}}
	r, err := NewRemote(w, "health", 10*time.Second, zap.NewNop(), nil)
	require.NoError(t, err)
	require.NoError(t, r.Record(context.Background(), entryFor("partition.staged")))
	require.Len(t, w.ids, 3)
	require.Len(t, w.ids[0], 32)
	require.Equal(t, w.ids[0], w.ids[1], "the repeat carries the same request id")
	require.Equal(t, w.ids[0], w.ids[2])
}

// An answer that refuses the request itself is not repeated.
func TestRemoteDoesNotRepeatARefusal(t *testing.T) {
	w := &scriptedWriter{answers: []error{errkind.New(errkind.Invalid, "POST /v1/audit/entries on health answered 400: bad entry")}}
	r, err := NewRemote(w, "health", 10*time.Second, zap.NewNop(), nil)
	require.NoError(t, err)
	err = r.Record(context.Background(), entryFor("partition.staged"))
	require.ErrorIs(t, err, ErrUnavailable)
	require.Contains(t, err.Error(), "bad entry")
	require.Len(t, w.ids, 1)
}

// A writer that stays down fails the action once the timeout is spent,
// with the last answer in the error.
func TestRemoteGivesUpAtItsTimeout(t *testing.T) {
	down := errors.New("connect: connection refused")
	answers := make([]error, 1000)
	for i := range answers {
		answers[i] = down
	}
	w := &scriptedWriter{answers: answers}
	r, err := NewRemote(w, "health", 700*time.Millisecond, zap.NewNop(), nil)
	require.NoError(t, err)
	err = r.Record(context.Background(), entryFor("partition.staged"))
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorContains(t, err, "connection refused")
	require.Greater(t, len(w.ids), 1, "repeated within the timeout")
	require.Less(t, len(w.ids), 10, "backing off")
}
