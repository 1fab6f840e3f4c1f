package objectstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// recorder answers like bindings.localstorage does (the store's real
// behaviour is covered by the extractor and publisher tests against a real
// daprd); it checks what the store sends.
type recorder struct {
	got    []*dapr.InvokeBindingRequest
	answer *dapr.BindingEvent
	err    error
}

func (r *recorder) InvokeBinding(_ context.Context, in *dapr.InvokeBindingRequest) (*dapr.BindingEvent, error) {
	r.got = append(r.got, in)
	return r.answer, r.err
}

func TestCheckKeyRefusesEscapes(t *testing.T) {
	for _, k := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", `a\b`, "..", "a/./b"} {
		require.Error(t, CheckKey(k), k)
		require.Equal(t, errkind.Invalid, errkind.Of(CheckKey(k)), k)
	}
	for _, k := range []string{"a", "jobs/j1/p000/r/table-000000.arrows", "x.y-z_1"} {
		require.NoError(t, CheckKey(k), k)
	}
}

func TestPutSendsBase64WithDecodeFlag(t *testing.T) {
	r := &recorder{}
	data := []byte{0xff, 0xff, 0xff, 0xff, 0x00, '"', 'x'}
	require.NoError(t, New(r, "staging").Put(context.Background(), "jobs/j/f.arrows", data))
	require.Len(t, r.got, 1)
	in := r.got[0]
	require.Equal(t, "staging", in.Name)
	require.Equal(t, "create", in.Operation)
	require.Equal(t, "true", in.Metadata["decodeBase64"])
	require.Equal(t, "jobs/j/f.arrows", in.Metadata["fileName"])
	require.Equal(t, "jobs/j/f.arrows", in.Metadata["key"])
	dec, err := base64.StdEncoding.DecodeString(string(in.Data))
	require.NoError(t, err)
	require.Equal(t, data, dec)
}

func TestErrorsHaveKinds(t *testing.T) {
	r := &recorder{err: errors.New("rpc error: error invoking output binding staging: file not found: /x")}
	_, err := New(r, "staging").Get(context.Background(), "x")
	require.Equal(t, errkind.NotFound, errkind.Of(err))
	require.NoError(t, New(r, "staging").Delete(context.Background(), "x"), "deleting a missing object is fine")

	r.err = errors.New("connection refused")
	_, err = New(r, "staging").Get(context.Background(), "x")
	require.Equal(t, errkind.Transient, errkind.Of(err))
	require.Equal(t, errkind.Transient, errkind.Of(New(r, "staging").Put(context.Background(), "x", nil)))
}

func TestListCutsLocalPathsBackToKeys(t *testing.T) {
	paths, _ := json.Marshal([]string{
		"/data/staging/jobs/j1/p000/r/table-000000.arrows",
		"/data/staging/jobs/j1/p001/r/column-000000.arrows",
		"/data/staging/jobs/j10/p000/r/table-000000.arrows", // another job whose id shares the prefix
	})
	r := &recorder{answer: &dapr.BindingEvent{Data: paths}}
	keys, err := New(r, "staging").List(context.Background(), "jobs/j1")
	require.NoError(t, err)
	require.Equal(t, []string{"jobs/j1/p000/r/table-000000.arrows", "jobs/j1/p001/r/column-000000.arrows"}, keys)
}
