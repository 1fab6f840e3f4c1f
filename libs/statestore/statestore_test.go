package statestore

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// A first-write or etag mismatch is a conflict on every store: SQL stores
// answer Aborted, state.redis Internal with its script's message.
func TestMismatchIsAConflictOnEveryStore(t *testing.T) {
	s := Store{Name: "statestore"}
	for name, err := range map[string]error{
		"sqlite": status.Error(codes.Aborted, "possible etag mismatch"),
		"redis": status.Error(codes.Internal, "failed saving state in state store statestore: failed to set key "+
			"orchestrator||submission/x: ERR user_script:14: failed to set key orchestrator||submission/x script: d908b9"),
	} {
		if got := errkind.Of(s.error(err, "write")); got != errkind.Conflict {
			t.Errorf("%s: %v, want conflict", name, got)
		}
	}
	if got := errkind.Of(s.error(status.Error(codes.Internal, "connection refused"), "write")); got != errkind.Transient {
		t.Errorf("a store that is down: %v, want transient", got)
	}
	if got := errkind.Of(s.error(errors.New("plain"), "write")); got != errkind.Transient {
		t.Errorf("plain error: %v", got)
	}
}
