package daprclient

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/secure-agent/secure-agent/libs/daprtest"
)

// tokenSidecar is a real daprd that requires apiToken, with a local file
// secret store holding one secret.
func tokenSidecar(t *testing.T, apiToken string) *daprtest.Sidecar {
	t.Helper()
	secrets := filepath.Join(t.TempDir(), "secrets.json")
	require.NoError(t, os.WriteFile(secrets, []byte(`{"db-password":"s3cr3t-value"}`), 0o600))
	return daprtest.Start(t, daprtest.Options{
		AppID:     "tokens",
		Resources: map[string]string{"secrets.yaml": daprtest.LocalFileSecretStore("secrets", secrets)},
		Env:       []string{"DAPR_API_TOKEN=" + apiToken},
	})
}

func rawGet(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set(APITokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestSidecarWithAPITokenRefusesCallsWithoutIt(t *testing.T) {
	const token = "test-api-token-0123456789abcdef"
	sc := tokenSidecar(t, token)
	for _, path := range []string{"/v1.0/secrets/secrets/bulk", "/v1.0/metadata"} {
		require.Equal(t, http.StatusUnauthorized, rawGet(t, sc.HTTPURL()+path, ""), "%s without a token", path)
		require.Equal(t, http.StatusUnauthorized, rawGet(t, sc.HTTPURL()+path, "wrong"), "%s with a wrong token", path)
		require.Equal(t, http.StatusOK, rawGet(t, sc.HTTPURL()+path, token), "%s with the token", path)
	}
}

func TestConnectSendsTheTokenOnEveryChannel(t *testing.T) {
	const token = "test-api-token-fedcba9876543210"
	sc := tokenSidecar(t, token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Connect(ctx, Options{AppID: "tokens", HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort, APIToken: token, WaitTimeout: 20 * time.Second})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	md, err := s.Metadata(ctx)
	require.NoError(t, err, "HTTP metadata")
	require.Equal(t, "tokens", md.ID)

	got, err := s.Client().GetSecret(ctx, "secrets", "db-password", nil)
	require.NoError(t, err, "go-sdk call over gRPC")
	require.Equal(t, "s3cr3t-value", got["db-password"])

	// What the durabletask workflow client does: its own stubs on the
	// shared connection, outside the go-sdk.
	var out emptypb.Empty
	require.NoError(t, s.Client().GrpcClientConn().Invoke(ctx, "/dapr.proto.runtime.v1.Dapr/GetMetadata", &emptypb.Empty{}, &out),
		"raw call on the shared gRPC connection")

	res, err := s.Invoke(ctx, "nobody", http.MethodGet, "x")
	require.NoError(t, err)
	require.NotEqual(t, http.StatusUnauthorized, res.Status, "invocation over HTTP carries the token")
}

func TestConnectNamesAMissingOrWrongToken(t *testing.T) {
	const token = "test-api-token-aaaabbbbccccdddd"
	sc := tokenSidecar(t, token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := Connect(ctx, Options{AppID: "tokens", HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort, WaitTimeout: 20 * time.Second})
	require.ErrorContains(t, err, "requires an API token: set DAPR_API_TOKEN")

	const wrong = "wrong-token-9999"
	_, err = Connect(ctx, Options{AppID: "tokens", HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort, APIToken: wrong, WaitTimeout: 20 * time.Second})
	require.ErrorContains(t, err, "refused DAPR_API_TOKEN")
	require.NotContains(t, err.Error(), wrong)
	require.NotContains(t, err.Error(), token)
}
