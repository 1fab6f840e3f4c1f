package gctune

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApplyKeepsTheOperatorsGOGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	got := Apply(func(k string) (string, bool) { return "400", k == "GOGC" }, DefaultPercent)
	require.Equal(t, "GOGC=400 from the environment", got)
	require.Equal(t, 100, debug.SetGCPercent(100), "an operator's GOGC is left alone")

	got = Apply(func(string) (string, bool) { return "", false }, DefaultPercent)
	require.Contains(t, got, "GOGC=25")
	require.Equal(t, DefaultPercent, debug.SetGCPercent(100))
}
