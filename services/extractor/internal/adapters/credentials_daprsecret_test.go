package adapters

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// A real daprd with a local-file secret store; the extractor's credentials
// read through the go-sdk client exactly as in production.
func TestSecretCredentialsThroughARealSidecar(t *testing.T) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	pw := "canary-" + hex.EncodeToString(b)
	file := filepath.Join(t.TempDir(), "secrets.json")
	raw, _ := json.Marshal(map[string]any{"sales-db-password": pw, "multi": map[string]string{"user": "u", "password": pw}, "empty": ""})
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	// The extractor's real secret scopes: everything but the control-plane keys.
	config, err := os.ReadFile(filepath.Join(repoRoot(t), "components", "config", "extractor.yaml"))
	require.NoError(t, err)
	raw, _ = json.Marshal(map[string]any{"sales-db-password": pw, "multi": map[string]string{"user": "u", "password": pw, "allowed_hosts": "db:5432"},
		"empty": "", "controlplane-client-secret": pw, "sales-db-password:allowed_hosts": "db:5432", "empty:allowed_hosts": "db:5432"})
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	sc := daprtest.Start(t, daprtest.Options{AppID: "extractor", Config: string(config), Resources: map[string]string{
		"secrets.yaml": daprtest.LocalFileSecretStore("secrets", file),
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := dapr.NewClientWithAddressContext(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(sc.GRPCPort)))
	require.NoError(t, err)
	defer client.Close()

	creds, err := NewSecretCredentials(client, SecretRef{Store: "secrets", Key: "sales-db-password"})
	require.NoError(t, err)
	db := []connector.Target{connector.TCPTarget("db:5432")}
	got, err := creds.PasswordFor(ctx, db)
	require.NoError(t, err)
	require.Equal(t, pw, got.Reveal())

	// The file store flattens nested objects into "parent:child" keys.
	nested, err := NewSecretCredentials(client, SecretRef{Store: "secrets", Key: "multi:password"})
	require.NoError(t, err)
	got, err = nested.PasswordFor(ctx, db)
	require.NoError(t, err)
	require.Equal(t, pw, got.Reveal())

	for name, c := range map[string]struct {
		ref  SecretRef
		kind errkind.Kind
		says string
	}{
		"missing key":     {SecretRef{Store: "secrets", Key: "nope"}, errkind.NotFound, `read secret "nope" from secret store "secrets"`},
		"unknown store":   {SecretRef{Store: "vault", Key: "sales-db-password"}, errkind.NotFound, `secret store "vault"`},
		"missing field":   {SecretRef{Store: "secrets", Key: "sales-db-password", Field: "pw"}, errkind.NotFound, `has no field "pw"; its fields are: sales-db-password`},
		"empty value":     {SecretRef{Store: "secrets", Key: "empty"}, errkind.Invalid, `secret "empty" in store "secrets" is empty`},
		"denied by scope": {SecretRef{Store: "secrets", Key: "controlplane-client-secret"}, errkind.Unauthorized, `read secret "controlplane-client-secret"`},
	} {
		t.Run(name, func(t *testing.T) {
			creds, err := NewSecretCredentials(client, c.ref)
			require.NoError(t, err)
			_, err = creds.PasswordFor(ctx, db)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.says)
			require.Equal(t, c.kind, errkind.Of(err), "%v", err)
			require.NotContains(t, err.Error(), pw)
		})
	}
}

func TestSecretRefValidation(t *testing.T) {
	_, err := NewSecretCredentials(nopGetter{}, SecretRef{})
	require.ErrorContains(t, err, "missing store and key")
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	_, err = NewSecretCredentials(nopGetter{}, SecretRef{Store: "s"})
	require.ErrorContains(t, err, "missing key")
}

type nopGetter struct{}

func (nopGetter) GetSecret(context.Context, string, string, map[string]string) (map[string]string, error) {
	return nil, nil
}

func repoRoot(t *testing.T) string {
	t.Helper()
	return filepath.Dir(filepath.Dir(daprtest.Daprd(t)))
}
