package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// BenchmarkPublishPartition publishes a partition of 2,000 tables of 50
// columns with a connection (digests staged) and finalizes its job: the
// publisher's work per asset.
func BenchmarkPublishPartition(b *testing.B) {
	t := &testing.T{}
	ctx := context.Background()
	for i := range b.N {
		b.StopTimer()
		w := newChangesWorld()
		id := "job-" + string(rune('a'+i%26))
		ev := w.stageRun(t, id, "p000", "run-1", 1, 2000, 50, 8192)
		ev.Connection = testConn
		svc := w.newService(t)
		spec := job.Spec{Connection: testConn}
		spec.Normalize()
		b.StartTimer()
		require.NoError(b, svc.PublishPartition(ctx, ev))
		_, err := svc.Finalize(ctx, id, job.FinalizeRequest{JobID: id, Spec: spec, Partitions: []string{"p000"}})
		require.NoError(b, err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2000*51), "ns/asset")
}
