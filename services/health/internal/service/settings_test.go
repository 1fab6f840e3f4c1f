package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/config"
)

func load(t *testing.T, env map[string]string) (Settings, error) {
	t.Helper()
	var s Settings
	l := config.New("health")
	check := s.register(l)
	if err := l.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return s, err
	}
	check(l)
	return s, l.Err()
}

func TestDefaultsLeaveTheControlPlaneOff(t *testing.T) {
	s, err := load(t, nil)
	require.NoError(t, err)
	require.False(t, s.ControlPlane.Enabled())
	require.Equal(t, 30*time.Second, s.HeartbeatInterval)
	require.Equal(t, "orchestrator", s.OrchestratorAppID)
}

func TestControlPlaneSettings(t *testing.T) {
	s, err := load(t, map[string]string{
		"CONTROLPLANE_URL": "https://cp.example.com/api/agent/v1", "CONTROLPLANE_TOKEN_URL": "https://cp.example.com/token",
		"AGENT_ID": "agent-1", "HEARTBEAT_INTERVAL": "5s",
	})
	require.NoError(t, err)
	require.True(t, s.ControlPlane.Enabled())
	require.Equal(t, "agent-1", s.ControlPlane.AgentID)
	require.Equal(t, 5*time.Second, s.HeartbeatInterval)
}

func TestBadSettingsAreNamed(t *testing.T) {
	_, err := load(t, map[string]string{
		"CONTROLPLANE_URL": "http://cp.example.com", "HEARTBEAT_INTERVAL": "500ms", "LOG_UPLOAD_BUFFER_LINES": "0",
	})
	require.Error(t, err)
	for _, name := range []string{"CONTROLPLANE_URL", "CONTROLPLANE_TOKEN_URL", "HEARTBEAT_INTERVAL", "LOG_UPLOAD_BUFFER_LINES"} {
		require.ErrorContains(t, err, name)
	}
}
