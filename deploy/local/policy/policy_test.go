package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const root = "../../.."

// The committed files are exactly what the policy renders: nobody edited
// one by hand, and nobody changed the policy without regenerating.
func TestGeneratedFilesMatchThePolicy(t *testing.T) {
	p, err := Load(root)
	require.NoError(t, err)
	files, err := p.Files(root)
	require.NoError(t, err)
	require.Len(t, files, 2*len(Apps)+2)
	for rel, want := range files {
		got, err := os.ReadFile(filepath.Join(root, rel))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s differs from %s: run `make generate`", rel, File)
	}
	for _, profile := range []string{"local", "redis"} {
		require.NoError(t, p.ComponentScopes(root, profile))
	}
}

func TestPolicyProblemsAreNamed(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) {
		path := filepath.Join(dir, File)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	}
	b, err := os.ReadFile(filepath.Join(root, File))
	require.NoError(t, err)

	write(strings.Replace(string(b), "defaultAccess: allow", "defaultAccess: maybe", 1))
	_, err = Load(dir)
	require.ErrorContains(t, err, "apps.extractor.secrets.defaultAccess must be allow or deny")

	write(strings.Replace(string(b), "  staging: [extractor, publisher]", "  staging: [extractor, publsher]", 1))
	_, err = Load(dir)
	require.ErrorContains(t, err, `components.staging names "publsher", which is not an app`)

	write(strings.Replace(string(b), "    publishes: [probe]\n", "    publishes: [probe]\n    publish: [x]\n", 1))
	_, err = Load(dir)
	require.ErrorContains(t, err, "field publish not found")
}

func TestScopesChangeWithThePolicy(t *testing.T) {
	p, err := Load(root)
	require.NoError(t, err)
	in := []byte("    - name: publishingScopes\n      value: \"old\"\n    - name: subscriptionScopes\n      value: \"old\"\n")
	out, err := p.PubsubWithScopes(in)
	require.NoError(t, err)
	pub, sub := p.Scopes()
	require.Contains(t, string(out), `"`+pub+`"`)
	require.Contains(t, string(out), `"`+sub+`"`)
	require.Contains(t, pub, "orchestrator=extract-requests,probe-ack,deadletter,job-logs")
	_, err = p.PubsubWithScopes([]byte("nothing here"))
	require.ErrorContains(t, err, "found 0")
}
