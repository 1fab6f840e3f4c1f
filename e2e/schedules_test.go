package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// TestSchedulesFireOnceAcrossAnOrchestratorRestart registers an interval
// schedule with `agentctl schedules add`, lets it fire on Dapr's scheduler,
// SIGKILLs the orchestrator and its sidecar between two fires, and checks
// the fires that follow: every interval fired exactly once (one job per
// fire time, in phase), except the ones whose time passed while nothing
// could run them, which are not caught up; a deleted schedule fires no
// more. Production timings: the shortest interval a schedule may have.
func TestSchedulesFireOnceAcrossAnOrchestratorRestart(t *testing.T) {
	t.Parallel()
	a, _ := pipelineStack(t, "local", 16000, 0)
	r := root(t)
	every := job.MinScheduleInterval
	const name = "e2e-every"
	spec := filepath.Join(t.TempDir(), "scheduled.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(strings.Join([]string{
		"version: 1", "name: " + name, "connection: default/sqlite/scheduled", "mode: full",
		"source: {kind: sqlite, dsn: '" + demoDB(t) + "'}",
		"schedule: {every: " + every.String() + "}", "",
	}, "\n")), 0o640))
	env := []string{"SA_API_TOKEN=" + a.s.APIToken(), "SA_ORCHESTRATOR_URL=" + a.s.AppURL("orchestrator")}
	agentctl := filepath.Join(r, "bin", "agentctl")

	out := runTool(t, r, env, agentctl, "schedules", "add", spec)
	require.Regexp(t, `^schedule e2e-every \(every 10s\): next run \S+ \S+ \S+ \(in \d+s\)\n$`, out)

	schedule := func() job.ScheduleStatus {
		t.Helper()
		ans := doWith(t, http.MethodGet, a.url("/v1/schedules"), a.bearer())
		require.Equal(t, http.StatusOK, ans.Status, "%s", ans.Body)
		var l job.ScheduleList
		ans.JSON(t, &l)
		require.Len(t, l.Schedules, 1)
		return l.Schedules[0]
	}
	// waitFires waits until the schedule has fired n times and its last
	// run ended, and answers it.
	waitFires := func(n int64) job.ScheduleStatus {
		t.Helper()
		deadline := time.Now().Add(time.Duration(n+3) * every * 2)
		for {
			st := schedule()
			if st.Started+st.Skipped >= n && st.LastRun != nil {
				if st.LastRun.Outcome != job.FireStarted {
					return st
				}
				if js, err := a.status(st.LastRun.JobID); err == nil && js.State.Terminal() {
					return st
				}
			}
			require.True(t, time.Now().Before(deadline), "the schedule fired %d times by %s; want %d: %+v", st.Started+st.Skipped, time.Now(), n, st)
			time.Sleep(250 * time.Millisecond)
		}
	}

	first := waitFires(2)
	// The kill lands just before the next fire: its time passes while the
	// orchestrator has no sidecar, and the scheduler must hold it.
	held := first.NextRun
	for time.Until(held) > 300*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("fired twice, the last at %s; restarting the orchestrator and its sidecar before the fire at %s", first.LastRun.At, held)
	killedAt := time.Now()
	a.kill("orchestrator-dapr")
	a.kill("orchestrator")
	backAt := time.Now()
	t.Logf("the orchestrator is back %s after the kill", backAt.Sub(killedAt).Round(time.Millisecond))
	last := waitFires(first.Started + first.Skipped + 4)

	out = runTool(t, r, env, agentctl, "schedules")
	require.Regexp(t, `(?m)^NAME\s+CONNECTION\s+SCHEDULE\s+NEXT RUN\s+LAST RUN\s+RUNS\s+SKIPPED$`, out)
	require.Regexp(t, `(?m)^e2e-every\s+default/sqlite/scheduled\s+every 10s\s+.*`+last.LastRun.JobID+`\s+\d+\s+\d+$`, out)

	// Deleted, it fires no more: nothing runs at the fire it had armed.
	last = schedule()
	out = runTool(t, r, env, agentctl, "schedules", "delete", name)
	require.Equal(t, "schedule e2e-every deleted; runs it started are not affected\n", out)
	ans := doWith(t, http.MethodGet, a.url("/v1/schedules"), a.bearer())
	require.Equal(t, http.StatusOK, ans.Status)
	require.JSONEq(t, `{"schedules":[]}`, string(ans.Body))
	for time.Now().Before(last.NextRun.Add(every / 2)) {
		time.Sleep(250 * time.Millisecond)
	}

	// One job per fire time, in phase; a gap only where the orchestrator
	// was down; every run succeeded.
	var fires []time.Time
	for _, st := range a.list() {
		if !strings.HasPrefix(st.ID, "s-") || !strings.HasSuffix(st.ID, "-"+name) {
			continue
		}
		at, err := time.Parse("20060102-150405", strings.TrimSuffix(strings.TrimPrefix(st.ID, "s-"), "-"+name))
		require.NoError(t, err, st.ID)
		fires = append(fires, at)
		require.Equal(t, job.Succeeded, a.wait(st.ID, time.Minute).State, "scheduled run %s", st.ID)
	}
	sort.Slice(fires, func(i, k int) bool { return fires[i].Before(fires[k]) })
	require.EqualValues(t, last.Started, len(fires), "one job per started fire: %v", fires)
	require.Equal(t, last.LastRun.At, fires[len(fires)-1], "the last fire's job")
	require.False(t, fires[len(fires)-1].After(last.NextRun.Add(-every)), "no job after the schedule was deleted: %v", fires)
	// The fire whose time passed during the restart was held by the
	// scheduler and delivered once the orchestrator was back.
	heldJob := a.wait(job.ScheduledJobID(name, held), time.Minute)
	require.Equal(t, job.Succeeded, heldJob.State)
	require.True(t, heldJob.SubmittedAt.After(held), "the held fire ran late, after the restart: submitted %s", heldJob.SubmittedAt)
	for i := 1; i < len(fires); i++ {
		gap := fires[i].Sub(fires[i-1])
		require.Zero(t, gap%every, "fires keep their phase: %v", fires)
		require.NotZero(t, gap, "two jobs for one fire time: %v", fires)
		// Only fires whose time passed before the held fire could be
		// delivered are missing: they are not caught up, the schedule goes on.
		for missed := fires[i-1].Add(every); missed.Before(fires[i]); missed = missed.Add(every) {
			require.True(t, missed.After(held) && missed.Before(heldJob.SubmittedAt),
				"the fire at %s is missing, but the held fire at %s was delivered at %s: %v", missed, held, heldJob.SubmittedAt, fires)
		}
	}
	t.Logf("%d scheduled runs at %v; %d skipped; the fire held over the restart ran %s late",
		len(fires), fires, last.Skipped, heldJob.SubmittedAt.Sub(held).Round(time.Millisecond))
}
