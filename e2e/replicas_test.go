package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/lease"
)

// twoOfEach runs two replicas of every service.
var twoOfEach = map[string]int{"orchestrator": 2, "extractor": 2, "publisher": 2, "health": 2}

// uploadsOnce asserts every upload file of job id was acknowledged by its
// destination exactly once, as the audit log records each upload.
func uploadsOnce(t *testing.T, s *stack.Stack, id string) int {
	t.Helper()
	seen := map[string]int{}
	for _, e := range readEntries(t, exportTo(t, s, s.DataDir())) {
		if e.Action == audit.ActionUploadAcknowledged && e.JobID == id {
			seen[e.Target]++
		}
	}
	require.NotEmpty(t, seen, "job %s recorded no uploads", id)
	for target, n := range seen {
		require.Equal(t, 1, n, "%s of job %s was uploaded %d times", target, id, n)
	}
	return len(seen)
}

// TestReplicasWithProductionTimings runs a 27-partition job on two
// replicas of every service, undisturbed and with one replica of each
// SIGKILLed mid-job (first the first replicas, then the second ones),
// with the default ack wait and partition deadline: every job gives the
// undisturbed asset set, by redelivery alone, and nothing is uploaded
// twice.
func TestReplicasWithProductionTimings(t *testing.T) {
	t.Parallel()
	a := prodStackWith(t, 12000, func(o *stack.Options) { o.Replicas = twoOfEach })
	dsn := pgCatalog(t, "sa_e2e_replicas", 26, 40)
	const conn = "default/postgres/replicas"
	spec := func(name string) string {
		return strings.Replace(pgSpec(name, conn, dsn, "partitioning:", "  tables_per_partition: 40", "  max_parallel: 4"),
			"databases: ["+pgDB+"]", "databases: [sa_e2e_replicas]", 1)
	}

	ref := a.submit(spec("replicas-undisturbed"))
	refSt := a.wait(ref, 5*time.Minute)
	requireRedelivered(t, refSt)
	require.Len(t, refSt.Partitions, 27)
	refAssets := a.assets(ref)
	undisturbed := refSt.FinishedAt.Sub(*refSt.StartedAt)
	files := uploadsOnce(t, a.s, ref)
	t.Logf("undisturbed 27-partition job on two replicas of each service: %s, %d upload files", undisturbed, files)

	for _, round := range []struct {
		name    string
		victims []string
	}{
		{"first replicas", []string{"orchestrator", "extractor", "publisher", "health"}},
		{"second replicas", []string{"orchestrator-2", "extractor-2", "publisher-2", "health-2"}},
	} {
		t.Run("SIGKILL of the "+round.name+" of every service mid-job", func(t *testing.T) {
			a := a.on(t)
			id := a.submit(spec("replicas-kill-" + strings.ReplaceAll(round.name, " ", "-")))
			a.waitUntil(id, "a few partitions done", 3*time.Minute, func(st job.Status) bool { return partitionsSucceeded(st) >= 3 })
			before, _ := a.status(id)
			require.Less(t, partitionsSucceeded(before), 24, "the job is still in the middle of its extraction")
			killed := time.Now()
			a.killAll(round.victims...)
			st := a.wait(id, prodAckWait+restartBudget+undisturbed+time.Minute)
			requireRedelivered(t, st)
			require.Equal(t, refAssets, a.assets(id), "the asset set differs from an undisturbed run")
			uploadsOnce(t, a.s, id)
			require.Empty(t, a.deadLetters(), "nothing was dead-lettered")
			require.Empty(t, a.slotHolders(conn), "every slot is released")
			t.Logf("RECOVERY %v killed with %d of 27 partitions done: job ended %s after the kills (undisturbed %s)",
				round.victims, partitionsSucceeded(before), time.Since(killed).Round(100*time.Millisecond), undisturbed.Round(100*time.Millisecond))
		})
	}
}

// pollerLease reads the orchestrator's poller lease from its state.
func pollerLease(t *testing.T, s *stack.Stack) lease.Record {
	t.Helper()
	var rec lease.Record
	if raw, ok := stateValue(t, s, "controlplane-poller"); ok {
		require.NoError(t, json.Unmarshal(raw, &rec), string(raw))
	}
	return rec
}

// TestPollerTakeover runs two orchestrators linked to the reference
// control plane with the default poller lease (15 s). The replica holding
// the poller is SIGKILLed mid-job; the stack restarts it at once, but a
// restarted process waits like any other, so a replica takes the poller
// over only after the lease went unrenewed for its TTL, within the
// lease's bound, and keeps the job's control-plane lease: the job ends
// once, leased once, with every file ingested once.
func TestPollerTakeover(t *testing.T) {
	t.Parallel()
	const ttl = 15 * time.Second
	// Control-plane leases outlive the takeover: a lease of 60 s is renewed
	// every 20 s, so the new holder renews it in time.
	l := startLinkedStackWith(t, 13000, 60*time.Second, func(o *stack.Options) {
		o.Replicas = map[string]int{"orchestrator": 2}
	})
	baselineID, baseline := l.run(t)
	require.NotEmpty(t, baseline)
	t.Logf("undisturbed leased job %s: %d files", baselineID, len(baseline))

	dsn := pgCatalog(t, "sa_e2e_poller", 26, 40)
	id, err := l.cp.Enqueue(map[string]any{
		"version": 1, "name": "poller-takeover", "connection": "default/postgres/poller", "mode": "full",
		"source":       map[string]any{"kind": "postgres", "dsn": dsn, "databases": []string{"sa_e2e_poller"}},
		"partitioning": map[string]any{"tables_per_partition": 40, "max_parallel": 1},
	})
	require.NoError(t, err)
	l.waitState(t, id, 2*time.Minute, "running")

	holder := pollerLease(t, l.s)
	require.Contains(t, []string{"orchestrator", "orchestrator-2"}, holder.Holder)
	other := "orchestrator-2"
	if holder.Holder == other {
		other = "orchestrator"
	}
	killed := time.Now()
	l.kill(t, holder.Holder)

	var now lease.Record
	// The other saw the holder's last write at most TTL/5 after it, and
	// looks every TTL/5: it takes over within TTL + 2·TTL/5 of the kill.
	bound := ttl + 2*ttl/5 + 2*time.Second
	for {
		now = pollerLease(t, l.s)
		if now.Holder != holder.Holder || now.Term != holder.Term {
			break
		}
		require.Less(t, time.Since(killed), bound, "no takeover within %s: the lease is %+v", bound, now)
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(killed)
	// Whichever saw the killed holder's last write earlier takes over: the
	// other replica, or the killed one restarted (it waits a full TTL from
	// its start, like any replica that cannot tell how long the lease went
	// unrenewed). The unit test TestOneReplicaPollsAndAnotherTakesOver
	// pins the other replica's takeover.
	require.Contains(t, []string{holder.Holder, other}, now.Holder)
	require.Equal(t, holder.Term+1, now.Term, "a takeover starts the next term")
	require.Contains(t, string(now.Data), id, "the job's control-plane lease moved with the poller lease")
	t.Logf("TAKEOVER %s took the poller over %s after %s was killed (bound %s)", now.Holder, took.Round(100*time.Millisecond), holder.Holder, bound)

	j := l.waitState(t, id, 5*time.Minute, "succeeded", "failed", "cancelled")
	require.Equal(t, "succeeded", j.State, "statuses: %+v", l.cp.Statuses(id))
	require.Equal(t, 1, j.Leases, "the job was leased once: no lease was lost")
	var states []string
	for _, s := range l.cp.Statuses(id) {
		states = append(states, s.Report.State)
	}
	require.Equal(t, []string{"accepted", "running", "succeeded"}, states, "each state reported once")
	l.ingested(t, id) // every file once, as the manifest lists them
	require.Equal(t, now.Holder, pollerLease(t, l.s).Holder, "one holder throughout: the other replica stands by")

	// New work is run by the new holder.
	_, files := l.run(t)
	require.Equal(t, baseline, files)
}
