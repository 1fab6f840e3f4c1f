package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireJobTrace finds the trace of job id (the span that accepted its
// lease is its root) and checks it holds spans of the four apps, that
// every span's parent is in it, and that it has one database client span
// per catalog statement the extractor counted for the job.
func requireJobTrace(t *testing.T, recv *otlpReceiver, id string, statements int) {
	t.Helper()
	var spans []receivedSpan
	var problems []string
	// Spans arrive in batches (every few seconds per process): wait until
	// the trace is complete or the deadline says it never will be.
	deadline := time.Now().Add(60 * time.Second)
	for {
		spans, problems = checkJobTrace(recv, id, statements)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	byService := map[string]int{}
	for _, s := range spans {
		byService[s.Service]++
	}
	t.Logf("trace of job %s: %d spans by service %v", id, len(spans), byService)
	if len(problems) > 0 && len(spans) > 0 {
		// Where the missing database spans went: every one outside the trace.
		in := map[string]bool{}
		for _, s := range spans {
			in[s.SpanID()] = true
		}
		for _, s := range recv.all() {
			if s.Attr("db.system.name") != "" && !in[s.SpanID()] {
				t.Logf("database span outside the job's trace: %s %q (trace %s, parent %s, statement %s)",
					s.Service, s.Span.GetName(), s.TraceID(), s.ParentID(), s.Attr("secure_agent.statement"))
			}
		}
	}
	require.Empty(t, problems, "the job's trace:\n%s", strings.Join(problems, "\n"))
}

func checkJobTrace(recv *otlpReceiver, id string, statements int) ([]receivedSpan, []string) {
	var traceID string
	for _, s := range recv.all() {
		if s.Span.GetName() == "accept lease" && s.Attr("secure_agent.job.id") == id {
			traceID = s.TraceID()
		}
	}
	if traceID == "" {
		return nil, []string{"no span accepted the lease of job " + id}
	}
	spans := recv.trace(traceID)
	var problems []string
	services := map[string]bool{}
	ids := map[string]bool{}
	db := 0
	for _, s := range spans {
		services[s.Service] = true
		ids[s.SpanID()] = true
		if s.Attr("db.system.name") != "" {
			db++
		}
	}
	for _, app := range []string{"orchestrator", "extractor", "publisher", "health"} {
		if !services[app] {
			problems = append(problems, "no span of "+app)
		}
	}
	var orphans []string
	for _, s := range spans {
		if p := s.ParentID(); p != "" && p != "0000000000000000" && !ids[p] {
			orphans = append(orphans, s.Service+": "+s.Span.GetName())
		}
	}
	sort.Strings(orphans)
	if len(orphans) > 0 {
		problems = append(problems, "spans whose parent is not in the trace: "+strings.Join(orphans, ", "))
	}
	if db != statements {
		problems = append(problems, fmt.Sprintf("database spans: got %d, the extractor counted %d statements", db, statements))
	}
	return spans, problems
}

// requireNoSecretInSpans searches every span's name, attributes, events
// and status message, and every resource, for each secret.
func requireNoSecretInSpans(t *testing.T, spans []receivedSpan, secrets map[string]string) {
	t.Helper()
	require.NotEmpty(t, spans)
	for what, secret := range secrets {
		require.NotEmpty(t, secret, what)
		for _, s := range spans {
			// The protobuf text of the span holds all of it.
			require.NotContains(t, s.Span.String(), secret, "%s is in a span of %s (%s)", what, s.Service, s.Span.GetName())
		}
	}
	t.Logf("%d spans searched for %d secrets", len(spans), len(secrets))
}

// jobTraceID is the trace of job id: the one its lease was accepted in.
func jobTraceID(t *testing.T, recv *otlpReceiver, id string) string {
	t.Helper()
	for _, s := range recv.all() {
		if s.Span.GetName() == "accept lease" && s.Attr("secure_agent.job.id") == id {
			return s.TraceID()
		}
	}
	t.Fatalf("no span accepted the lease of job %s", id)
	return ""
}

// requireJobLinesTraced reads the apps' logs: every line about job id
// carries a trace_id and a span_id, and the job's own lines name its
// trace (a few background lines, such as the staging sweep's, name
// theirs).
func requireJobLinesTraced(t *testing.T, dataDir, id, traceID string) {
	t.Helper()
	total, inJob := 0, 0
	for _, app := range []string{"orchestrator", "extractor", "publisher", "health"} {
		b, err := os.ReadFile(filepath.Join(dataDir, "logs", app+".log"))
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, id) {
				continue
			}
			total++
			hasTrace := strings.Contains(line, `"trace_id": "`) || strings.Contains(line, `"trace_id":"`)
			hasSpan := strings.Contains(line, `"span_id": "`) || strings.Contains(line, `"span_id":"`)
			if !hasTrace || !hasSpan {
				t.Errorf("%s logged a line about job %s without its trace and span: %s", app, id, line)
			}
			if strings.Contains(line, traceID) {
				inJob++
			}
		}
	}
	require.Positive(t, total, "no log line mentions job %s", id)
	t.Logf("%d log lines about job %s, %d of them in its trace %s", total, id, inJob, traceID)
	require.Greater(t, inJob*10, total*9, "most of the job's lines are in its trace")
}
