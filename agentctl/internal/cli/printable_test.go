package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrintableEscapesWhatATerminalWouldObey(t *testing.T) {
	for in, want := range map[string]string{
		"plain ünïcode":         "plain ünïcode",
		"evil\x1b[2Jname":       `evil\u001b[2Jname`,
		"title\x1b]0;pwned\x07": `title\u001b]0;pwned\u0007`,
		"cr\roverwrite":         `cr\u000doverwrite`,
		"c1\u009bcsi":           `c1\u009bcsi`,
		"bidi\u202eexe.txt":     `bidi\u202eexe.txt`,
		"line one\nline two":    "line one\nline two",
		"del\x7f":               `del\u007f`,
	} {
		require.Equal(t, want, printable(in), "%q", in)
	}
	require.Equal(t, `a b \u001b`, oneLine("a\nb \x1b"))
}

// A job whose name, connection and errors carry escape sequences (a spec
// from a remote control plane) is shown escaped by list, status and run.
func TestJobTextFromTheOrchestratorIsEscaped(t *testing.T) {
	status := `{"id":"j-1","name":"n\u001b[2J","connection":"c\u001b]0;x\u0007","source_kind":"sqlite","state":"failed",` +
		`"submitted_at":"2026-03-01T09:01:00Z","errors":["boom\u001b[31m\r"],"partitions":[{"id":"p000","database":"d\u001b","state":"failed","attempts":1,"error":"e\u001b"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/jobs":
			_, _ = w.Write([]byte(`{"jobs":[` + status + `]}`))
		case strings.HasPrefix(r.URL.Path, "/v1/jobs/"):
			_, _ = w.Write([]byte(status))
		}
	}))
	defer srv.Close()
	env := map[string]string{orchestratorEnv: srv.URL, tokenEnv: "t0ken-for-the-test"}
	for _, args := range [][]string{{"list"}, {"status", "j-1"}} {
		r := runJob(t, jobRun{env: env}, args...)
		out := r.stdout + r.stderr
		require.NotContains(t, out, "\x1b", "%v printed a raw ESC", args)
		require.NotContains(t, out, "\x07")
		require.NotContains(t, out, "\r")
		require.Contains(t, out, `\u001b`, "%v shows the escape instead", args)
	}
}
