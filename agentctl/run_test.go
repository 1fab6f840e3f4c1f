package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegistryHasEveryConnector(t *testing.T) {
	require.Equal(t, []string{"mysql", "postgres", "sqlite"}, registry().Kinds())
}

func TestRunWiresVersionAndStreams(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := func(string) (string, bool) { return "", false }
	require.Equal(t, 0, run(context.Background(), []string{"version"}, env, nil, &stdout, &stderr))
	require.True(t, strings.HasPrefix(stdout.String(), "agentctl "+version+" ("), stdout.String())

	stdout.Reset()
	require.Equal(t, 2, run(context.Background(), []string{"extract", "--source", "db2"}, env, nil, &stdout, &stderr))
	require.Contains(t, stderr.String(), `--source "db2" is not supported: use one of mysql, postgres, sqlite`)
	require.Empty(t, stdout.String())
}
