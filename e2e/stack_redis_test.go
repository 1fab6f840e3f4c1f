package e2e

import "testing"

// TestStackRedisProfile runs the foundation contract on PROFILE=redis against
// the machine's Redis (database 9, so a developer's data in 0 is untouched).
func TestStackRedisProfile(t *testing.T) {
	t.Parallel()
	s, pw := startStack(t, "redis", 21000, 9)
	checkStack(t, s, pw)
	t.Run("an event raised on a workflow that has not started runs it", func(t *testing.T) { pendingWorkflowRunsOnAnEvent(t, s) })
}
