package bootstrap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/config"
)

func envOf(m map[string]string) config.LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

var testSpec = Spec{Name: "health", DefaultAppPort: 6004}

// problemSettings lists the setting names of a *config.Error in order.
func problemSettings(t *testing.T, err error) []string {
	t.Helper()
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	var names []string
	for _, p := range ce.Problems {
		names = append(names, p.Setting)
	}
	return names
}

// defaultAudit is what AUDIT_* default to.
var defaultAudit = AuditSettings{Mode: AuditRequired, WriterAppID: "health", SecretStore: "secrets",
	HMACKey: "audit-hmac-key", Timeout: 10 * time.Second}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(testSpec, nil, envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "[unset]", c.described["DAPR_API_TOKEN"], "the start-up digest sees secrets as set or unset only")
	c.described = nil
	require.Equal(t, Common{
		Audit:             defaultAudit,
		AppID:             "health",
		Instance:          defaultInstance(),
		AppHost:           "127.0.0.1",
		AppPort:           6004,
		DaprHTTPPort:      3500,
		DaprGRPCPort:      50001,
		DaprAPIToken:      "",
		DaprWaitTimeout:   60 * time.Second,
		LogLevel:          "info",
		LogFormat:         "json",
		OTLPEndpoint:      "",
		OTLPProtocol:      "grpc",
		OTLPInsecure:      false,
		TraceSampleRatio:  1,
		ShutdownTimeout:   10 * time.Second,
		PubSubName:        "pubsub",
		JobLogBufferLines: 10_000,
		JobLogBufferBytes: 4 << 20,
	}, c)
}

func TestLoadConfigEnvAndFlags(t *testing.T) {
	env := map[string]string{
		"APP_ID":                      "health-2",
		"SA_INSTANCE":                 "health-2-pod",
		"APP_PORT":                    "7000",
		"DAPR_HTTP_PORT":              "3600",
		"DAPR_GRPC_PORT":              "50011",
		"DAPR_API_TOKEN":              "tok",
		"DAPR_WAIT_TIMEOUT":           "5s",
		"LOG_LEVEL":                   "warn",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
		"TRACE_SAMPLE_RATIO":          "0.25",
		"PUBSUB_NAME":                 "redis-pubsub",
		"SHIP_JOB_LOGS":               "true",
		"JOB_LOG_BUFFER_LINES":        "500",
		"JOB_LOG_BUFFER_BYTES":        "1048576",
	}
	args := []string{"--app-port=7100", "--log-format", "console", "--otlp-insecure", "--shutdown-timeout=3s",
		"--otel-exporter-otlp-protocol=http/protobuf"}
	c, err := loadConfig(testSpec, args, envOf(env))
	require.NoError(t, err)
	require.Equal(t, "[set]", c.described["DAPR_API_TOKEN"])
	c.described = nil
	require.Equal(t, Common{
		Audit:             defaultAudit,
		AppID:             "health-2",
		Instance:          "health-2-pod",
		AppHost:           "127.0.0.1",
		AppPort:           7100, // flag beats env
		DaprHTTPPort:      3600,
		DaprGRPCPort:      50011,
		DaprAPIToken:      "tok",
		DaprWaitTimeout:   5 * time.Second,
		LogLevel:          "warn",
		LogFormat:         "console",
		OTLPEndpoint:      "collector:4317",
		OTLPProtocol:      "http/protobuf",
		OTLPInsecure:      true,
		TraceSampleRatio:  0.25,
		ShutdownTimeout:   3 * time.Second,
		PubSubName:        "redis-pubsub",
		ShipJobLogs:       true,
		JobLogBufferLines: 500,
		JobLogBufferBytes: 1 << 20,
	}, c)
}

func TestLoadConfigReportsAllProblemsAtOnce(t *testing.T) {
	_, err := loadConfig(testSpec, nil, envOf(map[string]string{
		"APP_PORT":           "abc",
		"LOG_LEVEL":          "loud",
		"TRACE_SAMPLE_RATIO": "2",
	}))
	require.Error(t, err)
	require.Equal(t, []string{"APP_PORT", "LOG_LEVEL", "TRACE_SAMPLE_RATIO"}, problemSettings(t, err))
	msg := err.Error()
	require.Contains(t, msg, `"abc"`)
	require.Contains(t, msg, `"loud"`)
	require.Contains(t, msg, "debug, info, warn, error", "lists the accepted levels")
	require.Contains(t, msg, `invalid value "2": must be a number from 0 to 1`)
	require.True(t, strings.HasPrefix(msg, "health: 3 configuration problems"), msg)
}

func TestLoadConfigTraceSampleRatio(t *testing.T) {
	tests := []struct {
		raw     string
		want    float64
		wantErr bool
	}{
		{"0", 0, false},
		{"1", 1, false},
		{"0.5", 0.5, false},
		{"-0.1", 0, true},
		{"1.01", 0, true},
		{"half", 0, true},
		{"NaN", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			c, err := loadConfig(testSpec, nil, envOf(map[string]string{"TRACE_SAMPLE_RATIO": tt.raw}))
			if tt.wantErr {
				require.Equal(t, []string{"TRACE_SAMPLE_RATIO"}, problemSettings(t, err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, c.TraceSampleRatio)
		})
	}
}

func TestLoadConfigAppPortMustDifferFromSidecarPorts(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"equal to DAPR_HTTP_PORT", map[string]string{"APP_PORT": "3500"}},
		{"equal to DAPR_GRPC_PORT", map[string]string{"APP_PORT": "6000", "DAPR_GRPC_PORT": "6000"}},
		{"sidecar moved onto app port", map[string]string{"DAPR_HTTP_PORT": "6004"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(testSpec, nil, envOf(tt.env))
			require.Equal(t, []string{"APP_PORT"}, problemSettings(t, err))
			require.ErrorContains(t, err, "must differ from DAPR_HTTP_PORT and DAPR_GRPC_PORT")
		})
	}
}

func TestLoadConfigHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		_, err := loadConfig(testSpec, []string{arg}, envOf(map[string]string{"APP_PORT": "abc"}))
		require.ErrorIs(t, err, ErrHelp, arg)
	}
}

func TestLoadConfigNeverShowsAPIToken(t *testing.T) {
	const token = "s3cr3t-dapr-token-value"
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"token in env, other settings invalid", nil,
			map[string]string{"DAPR_API_TOKEN": token, "APP_PORT": "abc", "LOG_LEVEL": "loud"}},
		{"token as flag, other settings invalid", []string{"--dapr-api-token", token, "--log-format=xml"}, nil},
		{"token given to a misspelled flag", []string{"--dapr-api-tokn", token}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(testSpec, tt.args, envOf(tt.env))
			require.Error(t, err)
			require.NotContains(t, err.Error(), token)
			require.NotContains(t, err.Error(), "s3cr3t")
		})
	}
}

func TestLoadConfigRunsServiceSettings(t *testing.T) {
	var apps string
	spec := Spec{
		Name: "health", DefaultAppPort: 6004,
		Settings: func(l *config.Loader) func(*config.Loader) {
			l.String(&apps, "HEALTH_APPS", "orchestrator", "apps to watch")
			return func(l *config.Loader) {
				l.Check(!strings.Contains(apps, " "), "HEALTH_APPS", "must not contain spaces")
			}
		},
	}
	_, err := loadConfig(spec, []string{"--health-apps=a,b"}, envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "a,b", apps)

	_, err = loadConfig(spec, nil, envOf(map[string]string{"HEALTH_APPS": "a b", "LOG_LEVEL": "loud"}))
	require.Equal(t, []string{"LOG_LEVEL", "HEALTH_APPS"}, problemSettings(t, err))
	require.ErrorContains(t, err, "must not contain spaces")
	require.False(t, errors.Is(err, ErrHelp))
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "localhost": true, "127.0.0.2": true,
		"0.0.0.0": false, "10.0.0.5": false, "example.com": false, "": false,
	} {
		require.Equal(t, want, isLoopback(host), host)
	}
}

func TestLoadConfigChecksTheCABundle(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.crt")
	require.NoError(t, os.WriteFile(empty, []byte("# no certificates\n"), 0o644))
	for _, path := range []string{filepath.Join(dir, "missing.crt"), empty} {
		_, err := loadConfig(testSpec, nil, envOf(map[string]string{"SSL_CERT_FILE": path}))
		require.Error(t, err)
		require.Contains(t, err.Error(), "SSL_CERT_FILE")
		require.Contains(t, err.Error(), "lacks its CA bundle")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	good := filepath.Join(dir, "good.crt")
	require.NoError(t, os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	c, err := loadConfig(testSpec, nil, envOf(map[string]string{"SSL_CERT_FILE": good}))
	require.NoError(t, err)
	require.Equal(t, good, c.CABundle)
}
