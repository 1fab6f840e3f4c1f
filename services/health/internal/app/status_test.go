package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
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

// fakeSidecar answers Metadata and Invoke from tables keyed by
// "appID method". Invoke waits until every expected call has been made
// (bounded), which only finishes if apps and their two questions are
// asked in parallel.
type fakeSidecar struct {
	md      *daprclient.Metadata
	mdErr   error
	answers map[string]invokeAnswer

	mu    sync.Mutex
	calls []string // "appID VERB method"
	all   chan struct{}
	once  sync.Once
}

func newFakeSidecar(md *daprclient.Metadata, mdErr error, answers map[string]invokeAnswer) *fakeSidecar {
	return &fakeSidecar{md: md, mdErr: mdErr, answers: answers, all: make(chan struct{})}
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
	a, ok := f.answers[appID+" "+method]
	if !ok {
		return nil, errors.New("unexpected call " + appID + " " + method)
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

// sidecarReport renders an app's /v1/sidecar answer with the given
// components.
func sidecarReport(t *testing.T, appID string, comps ...bootstrap.ComponentReport) string {
	t.Helper()
	if comps == nil {
		comps = []bootstrap.ComponentReport{}
	}
	b, err := json.Marshal(bootstrap.SidecarReport{
		AppID:      appID,
		Sidecar:    bootstrap.SidecarInfo{Healthy: true, ID: appID, Version: "1.16.5", AppConnected: true},
		Components: comps,
		CheckedAt:  time.Now().UTC(),
	})
	require.NoError(t, err)
	return string(b)
}

var (
	stagingOK  = bootstrap.ComponentReport{Name: "staging", Type: "bindings.localstorage", Version: "v1", Check: bootstrap.CheckOK}
	stagingBad = bootstrap.ComponentReport{Name: "staging", Type: "bindings.localstorage", Version: "v1", Check: bootstrap.CheckError,
		Detail: "read a missing object: no answer within 2s"}
	stateOK   = bootstrap.ComponentReport{Name: "statestore", Type: "state.sqlite", Version: "v1", Check: bootstrap.CheckOK}
	secretsOK = bootstrap.ComponentReport{Name: "secrets", Type: "secretstores.local.file", Version: "v1", Check: bootstrap.CheckLoaded}
)

type fixedSelf struct{ rep bootstrap.SidecarReport }

func (f fixedSelf) Report(context.Context) bootstrap.SidecarReport { return f.rep }

type fixedBroker struct{ rep ProbeReport }

func (f fixedBroker) Check(context.Context) ProbeReport { return f.rep }

var (
	healthSelf = fixedSelf{rep: bootstrap.SidecarReport{
		AppID: "health", Sidecar: bootstrap.SidecarInfo{Healthy: true, ID: "health"},
		Components: []bootstrap.ComponentReport{secretsOK},
	}}
	brokerOK = fixedBroker{rep: ProbeReport{ProbeID: "0123456789abcdef", OK: true, CheckedAt: time.Now().UTC(),
		Apps: map[string]ProbeResult{"orchestrator": {Acked: true, RoundTripMs: 3}}}}
)

func TestStatusCheckMixedApps(t *testing.T) {
	sc := newFakeSidecar(sampleMetadata, nil, map[string]invokeAnswer{
		"orchestrator readyz":      {status: http.StatusOK, body: `{"status":"ready","checks":{"dapr_sidecar":"ok"}}`},
		"orchestrator /v1/sidecar": {status: http.StatusOK, body: sidecarReport(t, "orchestrator", stateOK)},
		"extractor readyz":         {status: http.StatusServiceUnavailable, body: `{"status":"not ready","checks":{"dapr_sidecar":"outbound health answered 500"}}`},
		"extractor /v1/sidecar":    {status: http.StatusOK, body: sidecarReport(t, "extractor", stagingBad, secretsOK)},
		"publisher readyz":         {err: errors.New("invoke GET readyz on publisher: connection refused")},
		"publisher /v1/sidecar":    {err: errors.New("invoke GET /v1/sidecar on publisher: connection refused")},
	})
	before := time.Now().UTC()
	r := NewStatus([]string{"orchestrator", "extractor", "publisher"}, sc, healthSelf, brokerOK).Check(context.Background())

	require.Equal(t, Down, r.Status)
	require.False(t, r.Healthy)
	require.Equal(t, []string{
		"extractor: not ready: readyz answered 503 through service invocation",
		"publisher: not ready: invoke GET readyz on publisher: connection refused",
		"publisher: no sidecar report: invoke GET /v1/sidecar on publisher: connection refused",
		"extractor: component staging (bindings.localstorage): read a missing object: no answer within 2s",
	}, r.Problems)
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
	require.NotNil(t, o.Sidecar)
	require.Equal(t, "orchestrator", o.Sidecar.AppID)
	require.Equal(t, []bootstrap.ComponentReport{stateOK}, o.Sidecar.Components)
	require.Empty(t, o.SidecarError)

	e := r.Apps["extractor"]
	require.False(t, e.Ready)
	require.Equal(t, "readyz answered 503 through service invocation", e.Error)
	require.JSONEq(t, `{"dapr_sidecar":"outbound health answered 500"}`, string(e.Checks))
	require.NotNil(t, e.Sidecar)

	p := r.Apps["publisher"]
	require.False(t, p.Ready)
	require.Equal(t, "invoke GET readyz on publisher: connection refused", p.Error)
	require.Nil(t, p.Checks)
	require.Nil(t, p.Sidecar)

	require.Equal(t, map[string]ObjectStoreStatus{
		"staging": {Type: "bindings.localstorage", Check: bootstrap.CheckError, Apps: map[string]string{"extractor": "error"},
			Detail: "extractor: read a missing object: no answer within 2s"},
	}, r.ObjectStores)
	require.NotNil(t, r.Broker)
	require.True(t, r.Broker.OK)
	require.NotNil(t, r.Self)

	require.False(t, r.CheckedAt.Before(before.Add(-time.Second)))
	require.Equal(t, time.UTC, r.CheckedAt.Location())
	require.ElementsMatch(t, []string{
		"orchestrator GET readyz", "extractor GET readyz", "publisher GET readyz",
		"orchestrator GET /v1/sidecar", "extractor GET /v1/sidecar", "publisher GET /v1/sidecar",
	}, sc.calls)
}

func TestStatusCheckAllHealthy(t *testing.T) {
	sc := newFakeSidecar(sampleMetadata, nil, map[string]invokeAnswer{
		"orchestrator readyz":      {status: http.StatusOK, body: `{"status":"ready","checks":{}}`},
		"orchestrator /v1/sidecar": {status: http.StatusOK, body: sidecarReport(t, "orchestrator", stateOK)},
		"extractor readyz":         {status: http.StatusOK, body: `not json`},
		"extractor /v1/sidecar":    {status: http.StatusOK, body: sidecarReport(t, "extractor", stagingOK, secretsOK)},
		"publisher readyz":         {status: http.StatusOK, body: `{}`},
		"publisher /v1/sidecar":    {status: http.StatusOK, body: sidecarReport(t, "publisher", stagingOK, stateOK)},
	})
	r := NewStatus([]string{"orchestrator", "extractor", "publisher"}, sc, healthSelf, brokerOK).Check(context.Background())
	require.Equal(t, OK, r.Status)
	require.True(t, r.Healthy)
	require.Empty(t, r.Problems)
	require.NotNil(t, r.Problems, "problems is [] in JSON, never null")
	require.True(t, r.Apps["orchestrator"].Ready)
	require.True(t, r.Apps["extractor"].Ready)
	require.Nil(t, r.Apps["extractor"].Checks, "a body that is not JSON leaves checks empty")
	require.Equal(t, map[string]ObjectStoreStatus{
		"staging": {Type: "bindings.localstorage", Check: "ok", Apps: map[string]string{"extractor": "ok", "publisher": "ok"}},
	}, r.ObjectStores)
	require.GreaterOrEqual(t, r.Broker.AgeMs, int64(0))
}

func TestStatusCheckDegraded(t *testing.T) {
	ready := invokeAnswer{status: http.StatusOK, body: `{"status":"ready","checks":{}}`}
	tests := []struct {
		name    string
		answers map[string]invokeAnswer
		broker  BrokerCheck
		self    SelfReporter
		want    []string
	}{
		{
			name: "sidecar report denied by the access-control policy",
			answers: map[string]invokeAnswer{
				"orchestrator readyz":      ready,
				"orchestrator /v1/sidecar": {status: http.StatusForbidden, body: `{"errorCode":"ERR_DIRECT_INVOKE","message":"access control policy has denied access"}`},
			},
			broker: brokerOK, self: healthSelf,
			want: []string{"orchestrator: no sidecar report: GET /v1/sidecar answered 403 through service invocation: " +
				"orchestrator's access-control policy must allow health to call GET /v1/sidecar"},
		},
		{
			name: "an app without the route",
			answers: map[string]invokeAnswer{
				"orchestrator readyz":      ready,
				"orchestrator /v1/sidecar": {status: http.StatusNotFound, body: `Cannot GET /v1/sidecar`},
			},
			broker: brokerOK, self: healthSelf,
			want: []string{"orchestrator: no sidecar report: GET /v1/sidecar answered 404 through service invocation: " +
				"orchestrator runs a version without the sidecar report; upgrade it"},
		},
		{
			name: "an answer that is not a report",
			answers: map[string]invokeAnswer{
				"orchestrator readyz":      ready,
				"orchestrator /v1/sidecar": {status: http.StatusOK, body: `{"hello":"world"}`},
			},
			broker: brokerOK, self: healthSelf,
			want: []string{`orchestrator: no sidecar report: GET /v1/sidecar answered something that is not a sidecar report: {"hello":"world"}`},
		},
		{
			name: "broker round trip incomplete",
			answers: map[string]invokeAnswer{
				"orchestrator readyz":      ready,
				"orchestrator /v1/sidecar": {status: http.StatusOK, body: sidecarReport(t, "orchestrator")},
			},
			broker: fixedBroker{rep: ProbeReport{Error: "not every app answered within 3s; check the broker and the apps' logs", CheckedAt: time.Now()}},
			self:   healthSelf,
			want:   []string{"broker: not every app answered within 3s; check the broker and the apps' logs"},
		},
		{
			name: "health's own component fails",
			answers: map[string]invokeAnswer{
				"orchestrator readyz":      ready,
				"orchestrator /v1/sidecar": {status: http.StatusOK, body: sidecarReport(t, "orchestrator")},
			},
			broker: brokerOK,
			self: fixedSelf{rep: bootstrap.SidecarReport{AppID: "health", Sidecar: bootstrap.SidecarInfo{Healthy: true},
				Components: []bootstrap.ComponentReport{{Name: "destination", Type: "bindings.aws.s3", Check: "error", Detail: "read a missing object: access denied"}}}},
			want: []string{"health: component destination (bindings.aws.s3): read a missing object: access denied"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newFakeSidecar(sampleMetadata, nil, tt.answers)
			r := NewStatus([]string{"orchestrator"}, sc, tt.self, tt.broker).Check(context.Background())
			require.Equal(t, Degraded, r.Status)
			require.True(t, r.Healthy, "degraded is still healthy: every app is ready")
			require.Equal(t, tt.want, r.Problems)
		})
	}
}

func TestStatusCheckSidecarDown(t *testing.T) {
	sc := newFakeSidecar(nil, errors.New("read dapr metadata from http://127.0.0.1:3500: connection refused"), map[string]invokeAnswer{
		"orchestrator readyz":      {status: http.StatusOK, body: `{}`},
		"orchestrator /v1/sidecar": {status: http.StatusOK, body: sidecarReport(t, "orchestrator")},
	})
	r := NewStatus([]string{"orchestrator"}, sc, nil, nil).Check(context.Background())
	require.False(t, r.Healthy, "apps ready but own sidecar down is not healthy")
	require.Equal(t, Down, r.Status)
	require.Equal(t, []string{"health's sidecar: read dapr metadata from http://127.0.0.1:3500: connection refused"}, r.Problems)
	require.False(t, r.Sidecar.Healthy)
	require.Equal(t, "read dapr metadata from http://127.0.0.1:3500: connection refused", r.Sidecar.Error)
	require.Empty(t, r.Sidecar.Components)
	require.True(t, r.Apps["orchestrator"].Ready)
	require.Nil(t, r.Self, "no self reporter, no self report")
	require.Nil(t, r.Broker, "no broker check, no broker status")
}

func TestObjectStoresCombineEveryAppsView(t *testing.T) {
	rep := func(app string, comps ...bootstrap.ComponentReport) *bootstrap.SidecarReport {
		return &bootstrap.SidecarReport{AppID: app, Sidecar: bootstrap.SidecarInfo{Healthy: true}, Components: comps}
	}
	loaded := bootstrap.ComponentReport{Name: "staging", Type: "bindings.localstorage", Check: bootstrap.CheckLoaded}
	webhook := bootstrap.ComponentReport{Name: "webhook", Type: "bindings.http", Check: bootstrap.CheckLoaded}
	r := Report{
		Self: &bootstrap.SidecarReport{Components: []bootstrap.ComponentReport{stagingBad}}, // no app id: health
		Apps: map[string]AppStatus{
			"publisher": {Sidecar: rep("publisher", stagingBad, webhook)},
			"extractor": {Sidecar: rep("extractor", stagingOK)},
			"other":     {Sidecar: rep("other", loaded)},
			"gone":      {},
		},
	}
	got := objectStores(r)
	require.Equal(t, map[string]ObjectStoreStatus{
		"staging": {
			Type: "bindings.localstorage", Check: "error",
			Apps:   map[string]string{"health": "error", "publisher": "error", "extractor": "ok", "other": "loaded"},
			Detail: "health: read a missing object: no answer within 2s; publisher: read a missing object: no answer within 2s",
		},
	}, got, "bindings that are not object stores are left out")

	r.Self = nil
	r.Apps = map[string]AppStatus{"extractor": {Sidecar: rep("extractor", stagingOK)}, "other": {Sidecar: rep("other", loaded)}}
	require.Equal(t, "loaded", objectStores(r)["staging"].Check, "one app could not check it")
	r.Apps = map[string]AppStatus{}
	require.Empty(t, objectStores(r))
}
