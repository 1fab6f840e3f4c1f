package job

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

const textCapSpec = "version: 1\nconnection: default/sqlite/1\nsource: {kind: sqlite, dsn: /tmp/x.db}\n"

func TestSpecMaxTextBytes(t *testing.T) {
	s, err := ParseSpec([]byte(textCapSpec))
	require.NoError(t, err)
	require.Equal(t, model.DefaultMaxTextBytes, s.MaxTextBytes, "defaults to the model's cap")

	s, err = ParseSpec([]byte(textCapSpec + "max_text_bytes: 65536\n"))
	require.NoError(t, err)
	require.Equal(t, 65536, s.MaxTextBytes)

	for _, bad := range []string{"-1", "67108865"} {
		_, err = ParseSpec([]byte(textCapSpec + "max_text_bytes: " + bad + "\n"))
		require.ErrorContains(t, err, "max_text_bytes: "+bad+" is not a text cap: use 1 to 67108864 bytes")
	}
}

func TestSpecAllowEmptyMatch(t *testing.T) {
	s, err := ParseSpec([]byte(textCapSpec))
	require.NoError(t, err)
	require.False(t, s.AllowEmptyMatch, "empty matches fail by default")

	y, err := ParseSpec([]byte(textCapSpec + "allow_empty_match: true\n"))
	require.NoError(t, err)
	j, err := ParseSpec([]byte(`{"version":1,"connection":"default/sqlite/1","source":{"kind":"sqlite","dsn":"/tmp/x.db"},"allow_empty_match":true}`))
	require.NoError(t, err)
	require.True(t, y.AllowEmptyMatch)
	require.Equal(t, y, j)
}

func TestSpecModeAndDeletions(t *testing.T) {
	s, err := ParseSpec([]byte(textCapSpec))
	require.NoError(t, err)
	require.Empty(t, s.Mode, "incremental when possible")
	require.False(t, s.DryRun)
	require.Zero(t, s.MaxDeletionShare, "the publisher's default")

	s, err = ParseSpec([]byte(textCapSpec + "mode: full\ndry_run: true\nmax_deletion_share: 0.5\n"))
	require.NoError(t, err)
	require.Equal(t, ModeFull, s.Mode)
	require.True(t, s.DryRun)
	require.Equal(t, 0.5, s.MaxDeletionShare)

	_, err = ParseSpec([]byte(textCapSpec + "mode: delta\nmax_deletion_share: 1.5\n"))
	require.ErrorContains(t, err, `mode: "delta" is not a mode; use incremental`)
	require.ErrorContains(t, err, "max_deletion_share 1.5 is not a share")
}
