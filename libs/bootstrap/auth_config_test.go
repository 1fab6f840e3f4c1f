package bootstrap

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadConfigTokens(t *testing.T) {
	const app, client = "app-token-0123456789abcdef", "client-token-0123456789abcdef"
	jobsSpec := Spec{Name: "orchestrator", DefaultAppPort: 6001, ClientRoutes: []string{"/v1/jobs"}}

	c, err := loadConfig(jobsSpec, nil, envOf(map[string]string{"APP_API_TOKEN": app, "CLIENT_API_TOKEN": client}))
	require.NoError(t, err)
	require.Equal(t, app, c.AppAPIToken)
	require.Equal(t, client, c.ClientAPIToken)

	// A service without client routes has no CLIENT_API_TOKEN setting.
	_, err = loadConfig(testSpec, []string{"--client-api-token", client}, envOf(nil))
	require.Error(t, err)
	require.NotContains(t, err.Error(), client)

	_, err = loadConfig(jobsSpec, nil, envOf(map[string]string{"APP_API_TOKEN": "short-app", "CLIENT_API_TOKEN": "short-cl", "LOG_LEVEL": "loud"}))
	require.Equal(t, []string{"APP_API_TOKEN", "CLIENT_API_TOKEN", "LOG_LEVEL"}, problemSettings(t, err))
	require.ErrorContains(t, err, "must be at least 16 characters")
	require.NotContains(t, err.Error(), "short-app")
	require.NotContains(t, err.Error(), "short-cl")
}
