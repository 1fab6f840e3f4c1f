package errkind

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{Internal, "internal"},
		{Invalid, "invalid"},
		{NotFound, "not_found"},
		{Conflict, "conflict"},
		{Transient, "transient"},
		{Unauthorized, "unauthorized"},
		{Kind(42), "kind(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, tt.kind.String())
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		kind Kind
		want int
	}{
		{Internal, http.StatusInternalServerError},
		{Invalid, http.StatusBadRequest},
		{NotFound, http.StatusNotFound},
		{Conflict, http.StatusConflict},
		{Transient, http.StatusServiceUnavailable},
		{Unauthorized, http.StatusUnauthorized},
		{Kind(42), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			require.Equal(t, tt.want, HTTPStatus(tt.kind))
		})
	}
}

func TestPubSubStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want PubSubAnswer
	}{
		{"nil", nil, Success},
		{"plain error", errors.New("boom"), Retry},
		{"internal", New(Internal, "bug"), Retry},
		{"transient", New(Transient, "store down"), Retry},
		{"deadline", fmt.Errorf("call store: %w", context.DeadlineExceeded), Retry},
		{"invalid", New(Invalid, "bad payload"), Drop},
		{"not found", New(NotFound, "no such document"), Drop},
		{"conflict", New(Conflict, "already processed"), Drop},
		{"unauthorized", New(Unauthorized, "token rejected"), Drop},
		{"wrapped invalid", fmt.Errorf("handle: %w", New(Invalid, "bad")), Drop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, PubSubStatus(tt.err))
		})
	}
	require.Equal(t, "SUCCESS", string(Success))
	require.Equal(t, "RETRY", string(Retry))
	require.Equal(t, "DROP", string(Drop))
}

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Internal},
		{"plain", errors.New("boom"), Internal},
		{"new", New(NotFound, "x"), NotFound},
		{"wrapped by fmt", fmt.Errorf("outer: %w", New(Conflict, "x")), Conflict},
		{"outermost wins", Wrap(Invalid, New(NotFound, "doc 1"), "bad reference"), Invalid},
		{"outermost wins through fmt", fmt.Errorf("a: %w", Wrap(Unauthorized, Wrap(Transient, errors.New("x"), "b"), "c")), Unauthorized},
		{"deadline", context.DeadlineExceeded, Transient},
		{"canceled", context.Canceled, Transient},
		{"wrapped deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), Transient},
		{"kind beats context", Wrap(Invalid, context.Canceled, "x"), Invalid},
		{"errorf", Errorf(Transient, "store %s: %w", "s1", errors.New("eof")), Transient},
		{"joined", errors.Join(errors.New("a"), New(Conflict, "b")), Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Of(tt.err))
		})
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"new", New(Invalid, "missing field id"), "missing field id"},
		{"wrap", Wrap(Transient, errors.New("connection refused"), "save state"), "save state: connection refused"},
		{"wrap empty msg", Wrap(Transient, errors.New("connection refused"), ""), "connection refused"},
		{"chain", Wrap(Internal, Wrap(NotFound, errors.New("no rows"), "load doc"), "extract"), "extract: load doc: no rows"},
		{"errorf", Errorf(Invalid, "field %q: %w", "id", errors.New("empty")), `field "id": empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, tt.err, tt.want)
		})
	}
}

func TestWrapNil(t *testing.T) {
	require.NoError(t, Wrap(Invalid, nil, "anything"))
	// A typed nil inside an interface would be non-nil; make sure it is a true nil.
	require.True(t, Wrap(Invalid, nil, "x") == nil)
}

func TestUnwrapReachesCause(t *testing.T) {
	cause := &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}

	wrapped := Wrap(NotFound, cause, "read config")
	require.ErrorIs(t, wrapped, fs.ErrNotExist)
	var pe *fs.PathError
	require.ErrorAs(t, wrapped, &pe)
	require.Equal(t, "/x", pe.Path)

	deep := fmt.Errorf("outer: %w", Wrap(Internal, wrapped, "middle"))
	require.ErrorIs(t, deep, fs.ErrNotExist)
	require.Equal(t, Internal, Of(deep))

	viaErrorf := Errorf(Conflict, "save: %w and %w", fs.ErrExist, context.Canceled)
	require.ErrorIs(t, viaErrorf, fs.ErrExist)
	require.ErrorIs(t, viaErrorf, context.Canceled)
	require.Equal(t, Conflict, Of(viaErrorf))
}
