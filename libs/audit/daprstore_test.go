package audit

import (
	"bufio"
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
)

// daprStores starts a real daprd with the state stores the log can live
// in (SQLite as the local stack runs it, Redis as the redis profile does)
// and returns a DaprStore for each.
func daprStores(t *testing.T) map[string]DaprStore {
	t.Helper()
	db := filepath.Join(t.TempDir(), "health.db")
	sc := daprtest.Start(t, daprtest.Options{AppID: "health", Resources: map[string]string{
		"sqlite.yaml": fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: sqlite}
spec:
  type: state.sqlite
  version: v1
  metadata:
    - {name: connectionString, value: "file:%s"}
`, db),
		"redis.yaml": fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redis}
spec:
  type: state.redis
  version: v1
  metadata:
    - {name: redisHost, value: "127.0.0.1:6379"}
    - {name: keyPrefix, value: "none"}
    - {name: redisDB, value: "13"}
`),
	}})
	client, err := daprclient.Connect(context.Background(), daprclient.Options{AppID: "health",
		HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort, WaitTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return map[string]DaprStore{
		"sqlite": {Client: client.Client(), Name: "sqlite"},
		"redis":  {Client: client.Client(), Name: "redis", NoRollback: true},
	}
}

// TestLogInARealStateStore appends, checkpoints, reopens and verifies a
// log kept in each state store through a real daprd, and checks that a
// commit against a stale head changes nothing.
func TestLogInARealStateStore(t *testing.T) {
	for name, st := range daprStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			if name == "redis" {
				flushRedisDB(t) // Redis keeps keys across runs
			}
			l, err := Open(ctx, st, Options{Origin: testOrigin, Signer: f.signer, Now: f.clock})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 30; i++ {
				if _, err := l.Append(ctx, entry(i), entry(i+100)); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			// A stale writer: its head etag is old, so its commit must
			// change nothing (it reloads and appends after).
			stale, err := Open(ctx, st, Options{Origin: testOrigin, Signer: f.signer, Now: f.clock})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(ctx, entry(7)); err != nil {
				t.Fatal(err)
			}
			body, _ := stdjson.Marshal(l.Head())
			err = st.Commit(ctx, Commit{Create: map[string][]byte{entryKey(61): []byte(`{}`)}, Head: body, HeadETag: stale.etag})
			if err == nil {
				t.Fatal("a commit against a stale head etag was accepted")
			}
			if _, err := stale.Append(ctx, entry(8)); err != nil {
				t.Fatal(err)
			}
			reopened, err := Open(ctx, st, Options{Origin: testOrigin, Signer: f.signer, Now: f.clock})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := reopened.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			var exp bytes.Buffer
			if err := reopened.Export(ctx, &exp); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(&exp, VerifyOptions{Origin: testOrigin, LogKey: f.vkey})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Entries != 62 {
				t.Fatalf("%+v", rep)
			}
		})
	}
}

// TestConcurrentAppendsThroughDaprd: appends from many goroutines are
// serialised, none lost, none torn.
func TestConcurrentAppendsThroughDaprd(t *testing.T) {
	st := daprStores(t)["sqlite"]
	f := newFixture(t)
	ctx := context.Background()
	l, err := Open(ctx, st, Options{Origin: testOrigin, Signer: f.signer, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 25; i++ {
				if _, err := l.Append(ctx, entry(g*100+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if _, _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	if err := l.Export(ctx, &exp); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(&exp, VerifyOptions{Origin: testOrigin, LogKey: f.vkey})
	if err != nil || !rep.OK() || rep.Entries != 200 {
		t.Fatalf("%+v %v", rep, err)
	}
}

// flushRedisDB empties the test's own Redis database (13) over RESP.
func flushRedisDB(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 5*time.Second)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("*2\r\n$6\r\nSELECT\r\n$2\r\n13\r\n*1\r\n$7\r\nFLUSHDB\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		line, err := r.ReadString('\n')
		if err != nil || line != "+OK\r\n" {
			t.Fatalf("redis answered %q, %v", line, err)
		}
	}
}
