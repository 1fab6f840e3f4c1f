package controlplane

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/config"
)

func loadSettings(t *testing.T, env map[string]string) (Settings, error) {
	t.Helper()
	var s Settings
	l := config.New("test")
	check := Register(l, &s)
	err := l.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		check(l)
		err = l.Err()
	}
	return s, err
}

func TestSettingsOffByDefault(t *testing.T) {
	s, err := loadSettings(t, nil)
	require.NoError(t, err)
	require.False(t, s.Enabled())
}

func TestSettingsNeedHTTPS(t *testing.T) {
	_, err := loadSettings(t, map[string]string{"CONTROLPLANE_URL": "http://cp.example.com/api"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "CONTROLPLANE_URL")
	require.Contains(t, err.Error(), "CONTROLPLANE_TOKEN_URL")
}

func TestSettingsAllowlistDefaultsToURLHosts(t *testing.T) {
	s, err := loadSettings(t, map[string]string{
		"CONTROLPLANE_URL":       "https://tenant.example.com/api/agent/v1",
		"CONTROLPLANE_TOKEN_URL": "https://auth.example.com/token",
	})
	require.NoError(t, err)
	require.Equal(t, []string{"tenant.example.com", "auth.example.com"}, s.HostsOf())
	s.AllowedHosts = " a.example.com, ,b.example.com"
	require.Equal(t, []string{"a.example.com", "b.example.com"}, s.HostsOf())
}

func TestNewFromSettingsCAFile(t *testing.T) {
	s := Settings{URL: "https://h/api", TokenURL: "https://h/token", ClientIDKey: "id", ClientSecretKey: "secret",
		CAFile: t.TempDir() + "/missing.pem", RatePerSecond: 1}
	_, err := NewFromSettings(s, DaprSecrets{}, nil, nil)
	require.ErrorContains(t, err, "CONTROLPLANE_CA_FILE")
}

type getterFunc func(store, key string) (map[string]string, error)

func (f getterFunc) GetSecret(_ context.Context, store, key string, _ map[string]string) (map[string]string, error) {
	return f(store, key)
}

func TestDaprSecrets(t *testing.T) {
	d := DaprSecrets{Store: "secrets", Getter: getterFunc(func(store, key string) (map[string]string, error) {
		switch key {
		case "id":
			return map[string]string{"id": "client"}, nil
		case "broken":
			return nil, errors.New("rpc error: PermissionDenied")
		default:
			return map[string]string{}, nil
		}
	})}
	v, err := d.Secret(context.Background(), "id")
	require.NoError(t, err)
	require.Equal(t, "client", v.Reveal())
	_, err = d.Secret(context.Background(), "broken")
	require.ErrorContains(t, err, `secret "broken" from secret store "secrets"`)
	_, err = d.Secret(context.Background(), "absent")
	require.True(t, strings.Contains(err.Error(), "missing or empty"))
}
