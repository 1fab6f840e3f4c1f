package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Topics are every pub/sub topic the agent uses. The JetStream component
// does not create streams, and one stream per topic is what lets each
// app-id keep its own durable consumer (see docs/adr).
var Topics = []string{
	"extract-requests", "batch-ready", "partition-done", "publish-done",
	"probe", "probe-ack", "deadletter", "job-logs",
}

// streamName maps a topic to its stream ("batch-ready" → "SA_BATCH_READY").
func streamName(topic string) string {
	return "SA_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(topic))
}

// ensureStreams creates or updates one stream per topic, each limited to
// maxBytes (the oldest messages go first past it); safe to repeat.
func ensureStreams(ctx context.Context, url string, maxBytes int64) error {
	nc, err := nats.Connect(url, nats.Name("secure-agent-launcher"), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream at %s: %w", url, err)
	}
	for _, t := range Topics {
		cfg := jetstream.StreamConfig{
			Name:      streamName(t),
			Subjects:  []string{t},
			Storage:   jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy,
			MaxAge:    72 * time.Hour,
			MaxBytes:  maxBytes,
			Discard:   jetstream.DiscardOld,
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create JetStream stream %s for topic %s (limit %s, SA_STREAM_MAX_BYTES): %w", cfg.Name, t, formatBytes(maxBytes), err)
		}
	}
	return nil
}

// pingRedis checks that a Redis server answers at addr, so PROFILE=redis
// fails fast with the address instead of sidecars that never get healthy.
func pingRedis(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("redis at %s is unreachable: %w; start Redis or point SA_REDIS_HOST at it", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return fmt.Errorf("redis at %s: %w", addr, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("redis at %s did not answer PING: %w", addr, err)
	}
	line = strings.TrimSpace(line)
	switch {
	case line == "+PONG":
		return nil
	case strings.HasPrefix(line, "-NOAUTH"):
		return nil // reachable; the password is the components' business
	default:
		return errors.New("redis at " + addr + " answered PING with " + line + "; is this a Redis server?")
	}
}
