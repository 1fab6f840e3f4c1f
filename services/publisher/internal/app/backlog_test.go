package app

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/libs/model"
)

func TestBacklogCountsEachBatchUntilItsPartitionEnds(t *testing.T) {
	g := metricdef.PublisherBacklog.Gauge()
	l := newBacklog(g)
	b := func(jobID, partition, run string, seq int) job.BatchReady {
		return job.BatchReady{JobID: jobID, Partition: partition, Run: run, Kind: model.KindTable, Seq: seq}
	}
	value := func() float64 { return testutil.ToFloat64(g) }

	l.add(b("j1", "p000", "r1", 0))
	l.add(b("j1", "p000", "r1", 0)) // redelivered
	l.add(b("j1", "p000", "r1", 1))
	l.add(b("j1", "p000", "r2", 0)) // a second run of the partition
	l.add(b("j1", "p001", "r3", 0))
	l.add(b("j2", "p000", "r1", 0)) // another job, same partition and run ids
	require.Equal(t, 5.0, value())

	l.runFailed("j1", "p001", "r3")
	require.Equal(t, 4.0, value(), "a failed run's batches will never be published")
	l.runFailed("j1", "p001", "r3")
	l.partitionEnded("j9", "p000")
	require.Equal(t, 4.0, value(), "ending what is not tracked changes nothing")

	l.partitionEnded("j1", "p000")
	require.Equal(t, 1.0, value(), "both runs of the published partition")
	l.add(b("j2", "p001", "r1", 0))
	l.jobEnded("j2")
	require.Zero(t, value())
	require.Empty(t, l.parts, "nothing is kept for ended partitions")
}
