package ports

import (
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logship"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/libs/pubsub/pubsubtest"
)

type recordingBuffer struct{ got []logship.Batch }

func (r *recordingBuffer) Accept(b logship.Batch) error {
	if b.JobID == "" {
		return errkind.New(errkind.Invalid, "no job id")
	}
	r.got = append(r.got, b)
	return nil
}

func TestJobLogsEventsAreBufferedAndAcknowledged(t *testing.T) {
	f := fiber.New()
	r, err := pubsub.NewRouter(f, "pubsub", nil, nil)
	require.NoError(t, err)
	buf := &recordingBuffer{}
	SubscribeJobLogs(r, buf)

	answer := pubsubtest.Deliver(t, f, job.TopicJobLogs,
		`{"service":"extractor","job_id":"job-1","dropped":2,"lines":[{"ts":"2031-01-02T03:04:05Z","level":"info","msg":"hello","fields":{"rows":3}}]}`)
	require.Equal(t, "SUCCESS", answer)
	require.Len(t, buf.got, 1)
	b := buf.got[0]
	require.Equal(t, "extractor", b.Service)
	require.Equal(t, "job-1", b.JobID)
	require.Equal(t, 2, b.Dropped)
	require.Equal(t, "hello", b.Lines[0].Msg)
	require.EqualValues(t, 3, b.Lines[0].Fields["rows"])

	require.Equal(t, "DROP", pubsubtest.Deliver(t, f, job.TopicJobLogs, `{"service":"extractor","lines":[]}`), "no job id")
	require.Equal(t, "DROP", pubsubtest.Deliver(t, f, job.TopicJobLogs, `"not a batch"`))
	require.Len(t, buf.got, 1)
}
