package service_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/services/publisher/internal/service"
)

// Bad settings stop the publisher before it waits for its sidecar, each
// reported by name.
func TestSettingsAreChecked(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"target too small", nil, map[string]string{"COMPACT_TARGET_BYTES": "0"}, []string{"COMPACT_TARGET_BYTES", "use 1 to"}},
		{"target too large", nil, map[string]string{"COMPACT_TARGET_BYTES": "1073741824"}, []string{"COMPACT_TARGET_BYTES", "128 MiB"}},
		{"not a number", nil, map[string]string{"COMPACT_TARGET_BYTES": "64MiB"}, []string{"COMPACT_TARGET_BYTES"}},
		{"control plane over http", nil, map[string]string{"CONTROLPLANE_URL": "http://cp.example.com/api/agent/v1",
			"CONTROLPLANE_TOKEN_URL": "https://cp.example.com/token"}, []string{"CONTROLPLANE_URL", "https://"}},
		{"control plane without token URL", nil, map[string]string{"CONTROLPLANE_URL": "https://cp.example.com/api/agent/v1"},
			[]string{"CONTROLPLANE_TOKEN_URL"}},
		{"empty names", []string{"--staging-binding=", "--state-store="}, nil, []string{"STAGING_BINDING", "STATE_STORE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := bootstrap.Run(context.Background(), service.Spec(), tc.args, func(k string) (string, bool) {
				v, ok := tc.env[k]
				return v, ok
			})
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
