package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is written by run's goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunNeedsSecretFromEnv(t *testing.T) {
	err := run(context.Background(), nil, func(string) string { return "" }, &syncBuffer{})
	require.ErrorContains(t, err, "CONTROLPLANE_CLIENT_SECRET")
}

func TestRunPrintsEndpointsNotSecret(t *testing.T) {
	const secret = "do-not-print-me"
	env := map[string]string{"CONTROLPLANE_CLIENT_SECRET": secret, "CONTROLPLANE_CLIENT_ID": "agent-7"}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-ca-file", caFile}, func(k string) string { return env[k] }, out)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "admin URL: http://127.0.0.1:") }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	text := out.String()
	require.Contains(t, text, "base URL:  https://127.0.0.1:")
	require.Contains(t, text, "/auth/realms/default/protocol/openid-connect/token")
	require.Contains(t, text, "client id: agent-7")
	require.NotContains(t, text, secret)
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(pem, []byte("-----BEGIN CERTIFICATE-----")))
}
