package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
)

// Bad settings are all reported at once, by name, before anything starts.
func TestSettingsProblemsReportedAtOnce(t *testing.T) {
	env := map[string]string{"STAGING_FILE_BYTES": "100", "EXTRACT_CONCURRENCY": "0", "STATE_STORE": ""}
	err := bootstrap.Run(context.Background(), service(), []string{"--staging-binding="}, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	require.Error(t, err)
	for _, want := range []string{
		"STAGING_BINDING (--staging-binding): must name the staging output binding",
		"STAGING_FILE_BYTES (--staging-file-bytes): must be from 1024 (1 KiB) to 67108864 (64 MiB)",
		"EXTRACT_CONCURRENCY (--extract-concurrency): must be from 1 to 64",
	} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "STATE_STORE", "an empty environment variable is unset: the default applies")
}
