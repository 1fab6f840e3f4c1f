package pubsub_test

import (
	"context"
	"errors"
	"math"
	"testing"

	pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

type publishCall struct {
	pubsubName, topic string
	data              any
	opts              []dapr.PublishEventOption
}

// recordingClient is an EventPublisher that remembers each call and
// answers with err.
type recordingClient struct {
	calls []publishCall
	err   error
}

func (r *recordingClient) PublishEvent(_ context.Context, pubsubName, topic string, data interface{}, opts ...dapr.PublishEventOption) error {
	r.calls = append(r.calls, publishCall{pubsubName: pubsubName, topic: topic, data: data, opts: opts})
	return r.err
}

func TestPublishSendsJSON(t *testing.T) {
	rc := &recordingClient{}
	p := pubsub.NewPublisher(rc, "jobs-pubsub")
	type payload struct {
		JobID string `json:"job_id"`
		Parts int    `json:"parts"`
	}
	require.NoError(t, p.Publish(context.Background(), "extract-requests", payload{JobID: "j-1", Parts: 4}))

	require.Len(t, rc.calls, 1)
	c := rc.calls[0]
	require.Equal(t, "jobs-pubsub", c.pubsubName)
	require.Equal(t, "extract-requests", c.topic)
	b, ok := c.data.([]byte)
	require.True(t, ok, "payload is pre-encoded JSON bytes, got %T", c.data)
	require.JSONEq(t, `{"job_id":"j-1","parts":4}`, string(b))

	require.Len(t, c.opts, 1, "exactly the content-type option")
	var req pb.PublishEventRequest
	for _, o := range c.opts {
		o(&req)
	}
	require.Equal(t, "application/json", req.GetDataContentType())
}

func TestPublishErrorIsTransient(t *testing.T) {
	cause := errors.New("connection refused")
	rc := &recordingClient{err: cause}
	p := pubsub.NewPublisher(rc, "pubsub")
	err := p.Publish(context.Background(), "probe", map[string]string{"a": "b"})
	require.Error(t, err)
	require.Equal(t, errkind.Transient, errkind.Of(err))
	require.ErrorIs(t, err, cause)
	require.Contains(t, err.Error(), "probe")
	require.Contains(t, err.Error(), "pubsub")
	require.Equal(t, errkind.Retry, errkind.PubSubStatus(err))
}

func TestPublishUnencodableValue(t *testing.T) {
	rc := &recordingClient{}
	p := pubsub.NewPublisher(rc, "pubsub")
	err := p.Publish(context.Background(), "probe", math.Inf(1))
	require.ErrorContains(t, err, "encode event for topic probe")
	require.Empty(t, rc.calls, "nothing is sent when encoding fails")
}
