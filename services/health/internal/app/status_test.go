package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprclient"
)

func TestParseAppIDs(t *testing.T) {
	long63 := "a" + strings.Repeat("b", 61) + "c"
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{"default list", "orchestrator,extractor,publisher", []string{"orchestrator", "extractor", "publisher"}, ""},
		{"spaces and empty items", " orchestrator , ,extractor,", []string{"orchestrator", "extractor"}, ""},
		{"duplicates keep first order", "b,a,b,a", []string{"b", "a"}, ""},
		{"digits and dashes", "app-1,2nd", []string{"app-1", "2nd"}, ""},
		{"single char", "x", []string{"x"}, ""},
		{"63 chars", long63, []string{long63}, ""},
		{"64 chars", long63 + "d", nil, "is not a valid app id"},
		{"upper case", "Orchestrator", nil, `"Orchestrator" is not a valid app id`},
		{"underscore", "my_app", nil, `"my_app" is not a valid app id`},
		{"leading dash", "-app", nil, `"-app" is not a valid app id`},
		{"trailing dash", "app-", nil, `"app-" is not a valid app id`},
		{"dot", "a.b", nil, `"a.b" is not a valid app id`},
		{"one bad among good", "orchestrator,Bad", nil, `"Bad" is not a valid app id`},
		{"empty", "", nil, "no app ids given"},
		{"only separators", " , ,", nil, "no app ids given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAppIDs(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

type invokeAnswer struct {
	status int
	body   string
	err    error
}

// fakeSidecar answers Metadata and Invoke from tables. Invoke waits until
// every expected app has been asked (bounded), which only finishes if the
// apps are asked in parallel.
type fakeSidecar struct {
	md      *daprclient.Metadata
	mdErr   error
	answers map[string]invokeAnswer

	mu      sync.Mutex
	calls   []string // "appID VERB method"
	started chan struct{}
	all     chan struct{}
	once    sync.Once
}

func newFakeSidecar(md *daprclient.Metadata, mdErr error, answers map[string]invokeAnswer) *fakeSidecar {
	return &fakeSidecar{md: md, mdErr: mdErr, answers: answers, started: make(chan struct{}, len(answers)), all: make(chan struct{})}
}

func (f *fakeSidecar) Healthy(context.Context) error { return f.mdErr }

func (f *fakeSidecar) Metadata(context.Context) (*daprclient.Metadata, error) {
	if f.mdErr != nil {
		return nil, f.mdErr
	}
	return f.md, nil
}

func (f *fakeSidecar) Invoke(ctx context.Context, appID, verb, method string) (*daprclient.InvokeResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, appID+" "+verb+" "+method)
	if len(f.calls) == len(f.answers) {
		f.once.Do(func() { close(f.all) })
	}
	f.mu.Unlock()
	select {
	case <-f.all:
	case <-time.After(5 * time.Second):
		return nil, errors.New("apps were not checked in parallel")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	a, ok := f.answers[appID]
	if !ok {
		return nil, errors.New("unexpected app " + appID)
	}
	if a.err != nil {
		return nil, a.err
	}
	return &daprclient.InvokeResult{Status: a.status, Body: []byte(a.body)}, nil
}

var sampleMetadata = &daprclient.Metadata{
	ID:             "health",
	RuntimeVersion: "1.16.0",
	Components: []daprclient.Component{
		{Name: "pubsub", Type: "pubsub.jetstream", Version: "v1"},
		{Name: "secrets", Type: "secretstores.local.file", Version: "v1"},
	},
}

func TestStatusCheckMixedApps(t *testing.T) {
	sc := newFakeSidecar(sampleMetadata, nil, map[string]invokeAnswer{
		"orchestrator": {status: http.StatusOK, body: `{"status":"ready","checks":{"dapr_sidecar":"ok"}}`},
		"extractor":    {status: http.StatusServiceUnavailable, body: `{"status":"not ready","checks":{"dapr_sidecar":"outbound health answered 500"}}`},
		"publisher":    {err: errors.New("invoke GET readyz on publisher: connection refused")},
	})
	before := time.Now().UTC()
	r := NewStatus([]string{"orchestrator", "extractor", "publisher"}, sc).Check(context.Background())

	require.False(t, r.Healthy)
	require.Equal(t, SidecarStatus{
		Healthy:        true,
		RuntimeVersion: "1.16.0",
		Components:     []string{"pubsub (pubsub.jetstream)", "secrets (secretstores.local.file)"},
	}, r.Sidecar)
	require.Len(t, r.Apps, 3)

	o := r.Apps["orchestrator"]
	require.True(t, o.Ready)
	require.Empty(t, o.Error)
	require.JSONEq(t, `{"dapr_sidecar":"ok"}`, string(o.Checks))

	e := r.Apps["extractor"]
	require.False(t, e.Ready)
	require.Equal(t, "readyz answered 503 through service invocation", e.Error)
	require.JSONEq(t, `{"dapr_sidecar":"outbound health answered 500"}`, string(e.Checks))

	p := r.Apps["publisher"]
	require.False(t, p.Ready)
	require.Equal(t, "invoke GET readyz on publisher: connection refused", p.Error)
	require.Nil(t, p.Checks)

	require.False(t, r.CheckedAt.Before(before.Add(-time.Second)))
	require.Equal(t, time.UTC, r.CheckedAt.Location())
	require.ElementsMatch(t, []string{"orchestrator GET readyz", "extractor GET readyz", "publisher GET readyz"}, sc.calls)
}

func TestStatusCheckAllHealthy(t *testing.T) {
	sc := newFakeSidecar(sampleMetadata, nil, map[string]invokeAnswer{
		"orchestrator": {status: http.StatusOK, body: `{"status":"ready","checks":{}}`},
		"extractor":    {status: http.StatusOK, body: `not json`},
	})
	r := NewStatus([]string{"orchestrator", "extractor"}, sc).Check(context.Background())
	require.True(t, r.Healthy)
	require.True(t, r.Apps["orchestrator"].Ready)
	require.True(t, r.Apps["extractor"].Ready)
	require.Nil(t, r.Apps["extractor"].Checks, "a body that is not JSON leaves checks empty")
}

func TestStatusCheckSidecarDown(t *testing.T) {
	sc := newFakeSidecar(nil, errors.New("read dapr metadata from http://127.0.0.1:3500: connection refused"), map[string]invokeAnswer{
		"orchestrator": {status: http.StatusOK, body: `{}`},
	})
	r := NewStatus([]string{"orchestrator"}, sc).Check(context.Background())
	require.False(t, r.Healthy, "apps ready but own sidecar down is not healthy")
	require.False(t, r.Sidecar.Healthy)
	require.Equal(t, "read dapr metadata from http://127.0.0.1:3500: connection refused", r.Sidecar.Error)
	require.Empty(t, r.Sidecar.Components)
	require.True(t, r.Apps["orchestrator"].Ready)
}
