package stack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAPITokenIsMadeOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	path := APITokenFile(dir)
	tok, err := loadOrCreateAPIToken(path)
	require.NoError(t, err)
	require.Len(t, tok, 64)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, err := loadOrCreateAPIToken(path)
	require.NoError(t, err)
	require.Equal(t, tok, again, "kept across starts")

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = loadOrCreateAPIToken(path)
	require.ErrorContains(t, err, "may be read by other users (mode 0644): run chmod 600 "+path)
	require.NotContains(t, err.Error(), tok)

	require.NoError(t, os.WriteFile(path, []byte("short\n"), 0o600))
	require.NoError(t, os.Chmod(path, 0o600))
	_, err = loadOrCreateAPIToken(path)
	require.ErrorContains(t, err, "does not hold a token")
	require.ErrorContains(t, err, "delete it")
}

func TestPrepareTokensPerInstanceAndFreshEachStart(t *testing.T) {
	dir := t.TempDir()
	s := &Stack{opts: Options{DataDir: dir, Replicas: map[string]int{"orchestrator": 2, "extractor": 2, "publisher": 2, "health": 2}}}
	require.NoError(t, s.prepareTokens())
	first := s.Tokens()
	require.Len(t, first.Sidecar, 2*len(Apps))
	require.Len(t, first.App, 2*len(Apps))
	seen := map[string]bool{first.API: true}
	for _, inst := range s.Instances() {
		for _, tok := range []string{first.Sidecar[inst], first.App[inst]} {
			require.Len(t, tok, 64, inst)
			require.False(t, seen[tok], "every token is different")
			seen[tok] = true
		}
		fi, err := os.Stat(filepath.Join(TokensDir(dir), inst+".env"))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), inst)
	}
	fi, err := os.Stat(TokensDir(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	read, err := ReadTokens(dir)
	require.NoError(t, err)
	require.Equal(t, first, read)

	// Only the apps with client routes get the job API token.
	for _, inst := range []string{"orchestrator", "orchestrator-2", "health", "health-2"} {
		require.Contains(t, s.appTokenEnv(inst), "CLIENT_API_TOKEN="+first.API, inst)
	}
	for _, inst := range []string{"extractor", "extractor-2", "publisher", "publisher-2"} {
		require.NotContains(t, s.appTokenEnv(inst), "CLIENT_API_TOKEN="+first.API, inst)
		require.Equal(t, []string{"DAPR_API_TOKEN=" + first.Sidecar[inst], "APP_API_TOKEN=" + first.App[inst]}, s.sidecarTokenEnv(inst))
	}

	s2 := &Stack{opts: Options{DataDir: dir, ExtractorReplicas: 2}}
	require.NoError(t, s2.prepareTokens())
	second := s2.Tokens()
	require.Equal(t, first.API, second.API)
	require.Len(t, second.Sidecar, len(Apps)+1, "ExtractorReplicas still adds extractor-2")
	require.NotEqual(t, first.Sidecar["orchestrator"], second.Sidecar["orchestrator"], "sidecar tokens are new at every start")
	require.NotEqual(t, first.Sidecar["extractor-2"], second.Sidecar["extractor-2"])
	for _, inst := range []string{"orchestrator-2", "publisher-2", "health-2"} {
		_, err = os.Stat(filepath.Join(TokensDir(dir), inst+".env"))
		require.ErrorIs(t, err, os.ErrNotExist, "a previous start's tokens do not linger: %s", inst)
	}

	s3 := &Stack{opts: Options{DataDir: dir}}
	require.NoError(t, s3.prepareTokens())
	require.Len(t, s3.Tokens().Sidecar, len(Apps))
	_, err = os.Stat(filepath.Join(TokensDir(dir), "extractor-2.env"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
