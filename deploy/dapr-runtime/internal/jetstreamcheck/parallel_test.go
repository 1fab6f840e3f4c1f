//go:build runtimecheck

// Package jetstreamcheck tests the JetStream pub/sub component daprd is
// built with, in the patched source tree build.sh prepares (it runs `go
// test -tags runtimecheck` here before it builds daprd; run the same in
// this folder to see the upstream bug), against a real nats-server with
// JetStream. components-contrib v1.16.5 subscribed without
// nats.ManualAck(), so nats.go acknowledged every message when the
// component's callback returned; with `concurrency: parallel` the callback
// only starts a goroutine, so a message was acknowledged as it arrived and
// a subscriber killed while it held the message lost it instead of getting
// it again after the ack wait (patches/pubsub-jetstream.go.txt, ADR 0019).
package jetstreamcheck

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dapr/components-contrib/metadata"
	"github.com/dapr/components-contrib/pubsub"
	"github.com/dapr/components-contrib/pubsub/jetstream"
	"github.com/dapr/kit/logger"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

const (
	topic   = "extract-requests"
	ackWait = time.Second
)

// A message a parallel subscriber still holds is not acknowledged: the
// broker sends it again after the ack wait, and the subscriber's answer
// acknowledges it once.
func TestAParallelSubscriberHoldingAMessageGetsItAgainAfterTheAckWait(t *testing.T) {
	url := startJetStream(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "secure-agent-" + topic, Subjects: []string{topic}}); err != nil {
		t.Fatal(err)
	}

	comp := jetstream.NewJetStream(logger.NewLogger("jetstreamcheck"))
	err = comp.Init(context.Background(), pubsub.Metadata{Base: metadata.Base{Properties: map[string]string{
		"natsURL":        url,
		"durableName":    "extractor",
		"queueGroupName": "extractor",
		"deliverPolicy":  "all",
		"ackWait":        ackWait.String(),
		"maxDeliver":     "-1",
		"concurrency":    "parallel",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer func() {
		cancel()
		close(release)
		_ = comp.Close()
	}()

	// The first delivery is held, as by a subscriber killed mid-work: its
	// handler answers nothing until the test ends. The second is answered.
	deliveries := make(chan int, 16)
	var mu sync.Mutex
	n := 0
	err = comp.Subscribe(ctx, pubsub.SubscribeRequest{Topic: topic}, func(ctx context.Context, msg *pubsub.NewMessage) error {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		deliveries <- i
		if i == 1 {
			select {
			case <-release:
				return errors.New("the test ended")
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(topic, []byte(`{"partition":"p001"}`)); err != nil {
		t.Fatal(err)
	}

	// Production's ack wait is 60 s; here 1 s. Ten of them is far more than
	// a redelivery needs and shows a message that will never come back.
	deadline := time.After(10 * ackWait)
	for want := 1; want <= 2; want++ {
		select {
		case i := <-deliveries:
			if i != want {
				t.Fatalf("delivery %d arrived when %d was expected", i, want)
			}
		case <-deadline:
			info, err := js.ConsumerInfo("secure-agent-"+topic, "extractor")
			if err != nil {
				t.Fatal(err)
			}
			t.Fatalf("the held message was not delivered again within %s (10 ack waits): the broker counts %d pending acks and acknowledged up to stream sequence %d, so the message was acknowledged while its subscriber still held it",
				10*ackWait, info.NumAckPending, info.AckFloor.Stream)
		}
	}
	// The second delivery's answer acknowledges the message: no third.
	waitFor(t, 10*ackWait, func() (bool, string) {
		info, err := js.ConsumerInfo("secure-agent-"+topic, "extractor")
		if err != nil {
			return false, err.Error()
		}
		return info.AckFloor.Stream == 1 && info.NumAckPending == 0, "the answered message is still pending"
	})
}

func startJetStream(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server did not start within 30 s")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// waitFor polls cond until it holds or d has passed, then fails with its
// last reason.
func waitFor(t *testing.T, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("after %s: %s", d, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
