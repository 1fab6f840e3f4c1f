package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// gatedObjects holds every Get until the test releases it, counting the
// Gets inside.
type gatedObjects struct {
	*memObjects
	entered chan struct{}
	release chan struct{}
}

func (g *gatedObjects) Get(ctx context.Context, key string) ([]byte, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.memObjects.Get(ctx, key)
}

// A broker that delivers in parallel may hand over many batch-ready events
// at once; each check holds its staged file, so at most Concurrency run at
// once and the others wait for a slot (ADR 0019).
func TestBatchChecksTakeASlot(t *testing.T) {
	w := newWorld(1 << 20)
	ev := w.stageRun(t, "j-1", "p000", "run-1", 3, 2, 3, 100)
	require.GreaterOrEqual(t, len(ev.Files), DefaultConcurrency+1)
	gated := &gatedObjects{memObjects: w.staging, entered: make(chan struct{}, 16), release: make(chan struct{})}
	svc := w.newService(t)
	svc.staging = gated

	done := make(chan error, DefaultConcurrency)
	for i := range DefaultConcurrency {
		go func() { done <- svc.VerifyBatch(context.Background(), ev.Files[i]) }()
	}
	for range DefaultConcurrency {
		<-gated.entered
	}
	// Every slot is held: one more check waits, and gives up when its
	// delivery ends, without fetching the file.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := svc.VerifyBatch(ctx, ev.Files[DefaultConcurrency])
	require.ErrorContains(t, err, "wait for a slot to check staged file")
	require.Equal(t, errkind.Transient, errkind.Of(err), "the broker delivers it again")
	require.Len(t, gated.entered, 0, "the waiting check fetched its file")

	close(gated.release)
	for range DefaultConcurrency {
		require.NoError(t, <-done)
	}
	require.NoError(t, svc.VerifyBatch(context.Background(), ev.Files[DefaultConcurrency]), "a freed slot is taken")
}
