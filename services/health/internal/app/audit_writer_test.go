package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/errkind"
)

type refusingWitness struct{ err error }

func (w refusingWitness) AddCheckpoint(context.Context, []byte, string) ([]byte, error) {
	return nil, w.err
}

func newTestWriter(t *testing.T, store *audit.MemStore, witness Witness) *AuditWriter {
	t.Helper()
	skey, vkey, err := audit.GenerateKey("secure-agent.test/health")
	require.NoError(t, err)
	signer, err := audit.NewSigner(skey)
	require.NoError(t, err)
	log, err := audit.Open(context.Background(), store, audit.Options{Origin: signer.Name(), Signer: signer})
	require.NoError(t, err)
	w, err := NewAuditWriter(AuditOptions{Log: log, VerifierKey: vkey, CheckpointEntries: 4, Witness: witness, App: "health",
		Logger: zap.NewNop(), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	return w
}

func entryOf(app string) audit.Entry {
	return audit.Entry{Action: audit.ActionSecretRead, Actor: app, App: app, Target: "secrets/k", Outcome: audit.OutcomeOK}
}

func TestAppendsOnlyAnAppsOwnEntries(t *testing.T) {
	w := newTestWriter(t, audit.NewMemStore(), nil)
	ctx := context.Background()
	seqs, err := w.Append(ctx, "extractor", "", []audit.Entry{entryOf("extractor"), entryOf("extractor")})
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 1}, seqs)
	_, err = w.Append(ctx, "extractor", "", []audit.Entry{entryOf("orchestrator")})
	require.Equal(t, errkind.Unauthorized, errkind.Of(err), "%v", err)
	_, err = w.Append(ctx, "", "", []audit.Entry{entryOf("extractor")})
	require.Equal(t, errkind.Unauthorized, errkind.Of(err), "%v", err)
	_, err = w.Append(ctx, "extractor", "", nil)
	require.Equal(t, errkind.Invalid, errkind.Of(err), "%v", err)
}

// A store that fails makes appends fail (the app does not act) and the
// log degraded in health's status until an append succeeds again.
func TestStoreDownIsDegraded(t *testing.T) {
	store := audit.NewMemStore()
	w := newTestWriter(t, store, nil)
	ctx := context.Background()
	store.Fail = errors.New("database is locked")
	_, err := w.Append(ctx, "publisher", "", []audit.Entry{entryOf("publisher")})
	require.ErrorIs(t, err, audit.ErrUnavailable)
	require.Equal(t, errkind.Transient, errkind.Of(err))
	st := w.Status()
	require.Equal(t, "degraded", st.State)
	require.Contains(t, strings.Join(st.Problems, " "), "database is locked")

	rep := Report{Sidecar: SidecarStatus{Healthy: true}, Apps: map[string]AppStatus{}, Audit: &st}
	overall, problems := verdict(rep)
	require.Equal(t, Degraded, overall)
	require.Contains(t, strings.Join(problems, " "), "audit log: store")

	store.Fail = nil
	_, err = w.Append(ctx, "publisher", "", []audit.Entry{entryOf("publisher")})
	require.NoError(t, err)
	require.Equal(t, "ok", w.Status().State)
}

// A witness that refuses a checkpoint (the log was rolled back or
// rewritten) degrades the log and says why.
func TestWitnessRefusalIsDegraded(t *testing.T) {
	known := uint64(40)
	w := newTestWriter(t, audit.NewMemStore(), refusingWitness{err: &controlplane.StatusError{Operation: "addCheckpoint",
		Status: http.StatusConflict, Code: "rolled_back", Message: "rolled back: this witness cosigned 40 entries", KnownSize: &known}})
	ctx := context.Background()
	_, err := w.Append(ctx, "orchestrator", "", []audit.Entry{entryOf("orchestrator")})
	require.NoError(t, err)
	w.checkpoint(ctx)
	st := w.Status()
	require.Equal(t, "degraded", st.State)
	require.Contains(t, strings.Join(st.Problems, " "), "rolled back")
	require.Equal(t, uint64(1), st.LastCheckpoint)
	require.Zero(t, st.LastCosigned)
}
