package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// pipelineStack starts a local-profile stack for job tests: two extractor
// replicas and a short broker ack wait, so a killed subscriber's message
// comes back in seconds.
func pipelineStack(t *testing.T, profile string, portBase, redisDB int) (agent, string) {
	t.Helper()
	dataDir := stackDataDir(t)
	pw := writeSecrets(t, dataDir)
	if profile == "redis" {
		// A new stack is a new installation: its audit log (and state)
		// must not meet an earlier run's in the same Redis database.
		flushRedisDB(t, "127.0.0.1:6379", redisDB)
	}
	s, err := stack.Start(context.Background(), stack.Options{
		Root: root(t), DataDir: dataDir, Profile: profile, PortBase: portBase,
		RedisHost: "127.0.0.1:6379", RedisDB: redisDB, StartTimeout: 3 * time.Minute,
		ExtractorReplicas: 2, AckWait: 10 * time.Second, Progress: &testLog{t: t},
	})
	require.NoError(t, err)
	supervise(t, s, dataDir)
	return agent{t: t, s: s}, pw
}

// supervise keeps restarting the stack's dead processes while t runs, and
// stops the stack when it ends, checking nothing is left behind.
func supervise(t *testing.T, s *stack.Stack, dataDir string) {
	ctx, cancel := context.WithCancel(context.Background())
	supervised := make(chan error, 1)
	go func() { supervised <- s.Wait(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-supervised, "the supervisor gave up on a process")
		if t.Failed() {
			dumpLogs(t, dataDir)
		}
		require.NoError(t, s.Stop())
		require.Empty(t, processesIn(t, dataDir), "processes left behind")
	})
}

// pgSpec is a job on the e2e PostgreSQL database (only that one: the
// server holds others).
// pgSpec runs in mode full: the tests compare each job's files with a
// whole extraction, and the connection's earlier jobs would make a run
// ship only what changed.
func pgSpec(name, connection, dsn string, extra ...string) string {
	return strings.Join(append([]string{
		"version: 1",
		"name: " + name,
		"connection: " + connection,
		"mode: full",
		"source:",
		"  kind: postgres",
		"  dsn: " + dsn,
		"  databases: [" + pgDB + "]",
	}, extra...), "\n") + "\n"
}

const pgDB = "sa_e2e_pipeline"

// TestPipeline runs jobs through the whole local stack: PostgreSQL,
// MariaDB and SQLite sources, concurrent jobs, kills of every kind of
// process mid-job, a source going down, cancel, and the secret canary.
func TestPipeline(t *testing.T) {
	t.Parallel()
	a, canary := pipelineStack(t, "local", 23000, 0)

	pgDSN := pgCatalog(t, pgDB, 12, 30) // 360 tables, 12 views
	mariaCatalog(t, "sa_e2e_pipe", 3, 20)
	sqlitePath := demoDB(t)

	const pgConn = "default/postgres/e2e"
	pgRef := referenceAssets(t, "--source", "postgres", "--dsn", pgDSN, "--connection", pgConn, "--database", pgDB)
	require.Equal(t, 360+12, countKind(pgRef, model.KindTable))
	// Many small partitions, two at a time: the job runs long enough to be
	// disturbed in the middle.
	partitioned := []string{"partitioning:", "  tables_per_partition: 30", "  max_parallel: 2", "  timeout: 20s"}

	t.Run("postgres, mariadb and sqlite jobs run concurrently and match their sources", func(t *testing.T) {
		a := a.on(t)
		mariaDSN := "root@tcp(127.0.0.1:3306)/"
		mariaFilter := []string{"filters:", "  include_schemas: ['default\\.sa_e2e_pipe_.*']"}
		jobs := map[string]struct {
			spec string
			ref  []string
			conn string
		}{
			"postgres": {pgSpec("pg", pgConn, pgDSN, partitioned...), pgRef, pgConn},
			"mariadb": {
				strings.Join(append([]string{"version: 1", "connection: default/mysql/e2e", "source:", "  kind: mysql", "  dsn: '" + mariaDSN + "'"}, mariaFilter...), "\n"),
				referenceAssets(t, "--source", "mysql", "--dsn", mariaDSN, "--connection", "default/mysql/e2e", "--include", `default\.sa_e2e_pipe_.*`),
				"default/mysql/e2e",
			},
			"sqlite": {
				"version: 1\nconnection: default/sqlite/e2e\nsource:\n  kind: sqlite\n  dsn: '" + sqlitePath + "'\n",
				referenceAssets(t, "--source", "sqlite", "--dsn", sqlitePath, "--connection", "default/sqlite/e2e"),
				"default/sqlite/e2e",
			},
		}
		ids := map[string]string{}
		for name, j := range jobs {
			ids[name] = a.submit(j.spec)
		}
		for name, j := range jobs {
			st := a.wait(ids[name], 5*time.Minute)
			require.Equal(t, job.Succeeded, st.State, "%s: %v", name, st.Errors)
			got := a.assets(ids[name])
			require.Equal(t, j.ref, got, "%s: the pipeline's assets differ from a direct extraction", name)
			for _, asset := range got {
				require.Contains(t, asset, " "+j.conn+"/", "%s: an asset of another job leaked in", name)
			}
			require.Equal(t, int64(len(got)), st.Assets, "%s: status counts", name)
			require.Empty(t, stagingFiles(t, a.s, ids[name]), "%s: staging is cleaned after the manifest", name)
		}
		// 12 schemas of 31 tables and views, 30 per partition: one partition
		// each, and one for the empty public schema.
		require.Len(t, mustStatus(t, a, ids["postgres"]).Partitions, 13)
		require.Equal(t, 60+3, countKind(jobs["mariadb"].ref, model.KindTable))
	})

	t.Run("a schema larger than a partition is split into ranges of its tables and matches its source", func(t *testing.T) {
		a := a.on(t)
		const db, conn = "sa_e2e_range", "default/postgres/range"
		dsn := pgCatalog(t, db, 1, 250)
		ref := referenceAssets(t, "--source", "postgres", "--dsn", dsn, "--connection", conn, "--database", db)
		id := a.submit(strings.Join([]string{"version: 1", "name: range", "connection: " + conn, "source:", "  kind: postgres",
			"  dsn: " + dsn, "  databases: [" + db + "]", "partitioning:", "  tables_per_partition: 100", "  max_parallel: 2"}, "\n") + "\n")
		st := a.wait(id, 5*time.Minute)
		require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
		var ranges []model.TableRange
		for _, p := range st.Partitions {
			if p.Range != nil {
				ranges = append(ranges, *p.Range)
			}
		}
		// 250 tables and 1 view in s00: cut after the 100th and the 200th.
		require.Len(t, ranges, 3, "%+v", st.Partitions)
		require.Empty(t, ranges[0].From)
		require.Equal(t, ranges[0].Before, ranges[1].From)
		require.Equal(t, ranges[1].Before, ranges[2].From)
		require.Empty(t, ranges[2].Before)
		require.Equal(t, ref, a.assets(id), "the ranges together extract exactly the schema")
	})

	t.Run("both extractor replicas share the work", func(t *testing.T) {
		a := a.on(t)
		logs := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(a.s.DataDir(), "logs", name+".log"))
			return string(b)
		}
		// Any partition of the jobs so far (PostgreSQL, MariaDB, SQLite,
		// the ranges): which replica the broker hands a partition to is
		// its choice, and one database's few partitions can all go to one.
		require.Contains(t, logs("extractor"), "extraction run started", "replica 1 extracted some partitions")
		require.Contains(t, logs("extractor-2"), "extraction run started", "replica 2 extracted some partitions")
	})

	for _, victim := range []string{"extractor", "publisher", "orchestrator", "publisher-dapr"} {
		t.Run("SIGKILL of "+victim+" mid-job loses and duplicates nothing", func(t *testing.T) {
			a := a.on(t)
			id := a.submit(pgSpec("kill-"+victim, pgConn, pgDSN, partitioned...))
			a.waitUntil(id, "some partitions done, most not", 3*time.Minute, func(st job.Status) bool {
				done := 0
				for _, p := range st.Partitions {
					if p.State == job.Succeeded {
						done++
					}
				}
				return done >= 1 && done <= len(st.Partitions)-4
			})
			a.kill(victim)
			st := a.wait(id, 5*time.Minute)
			require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
			require.Equal(t, pgRef, a.assets(id), "the asset set differs from an undisturbed run")
		})
	}

	t.Run("a source that goes down mid-job fails the job with a partition error and no manifest", func(t *testing.T) {
		a := a.on(t)
		proxy := newTCPProxy(t, "127.0.0.1:5432")
		dsn := fmt.Sprintf("postgres://postgres@%s/sa_e2e_pipeline?sslmode=disable", proxy.Addr())
		id := a.submit(pgSpec("down", "default/postgres/down", dsn,
			"partitioning:", "  tables_per_partition: 30", "  max_parallel: 1", "  timeout: 30s", "  retries: 1"))
		a.waitUntil(id, "the first partition done", 3*time.Minute, func(st job.Status) bool {
			return len(st.Partitions) > 0 && st.Partitions[0].State == job.Succeeded
		})
		proxy.Close()
		st := a.wait(id, 5*time.Minute)
		require.Equal(t, job.Failed, st.State)
		msg := strings.Join(st.Errors, "\n")
		require.Regexp(t, `partition p0\d\d`, msg, "the error names the partition")
		require.NotContains(t, msg, "password")
		_, err := os.Stat(filepath.Join(a.jobDir(id), model.ManifestFile))
		require.ErrorIs(t, err, os.ErrNotExist, "a failed job has no manifest")
	})

	t.Run("cancel stops a running job", func(t *testing.T) {
		a := a.on(t)
		id := a.submit(pgSpec("cancel", pgConn, pgDSN,
			"partitioning:", "  tables_per_partition: 30", "  max_parallel: 1"))
		a.waitUntil(id, "the first partition done", 3*time.Minute, func(st job.Status) bool {
			return len(st.Partitions) > 0 && st.Partitions[0].State == job.Succeeded
		})
		a.cancel(id)
		st := a.wait(id, 2*time.Minute)
		require.Equal(t, job.Cancelled, st.State)
		succeeded := 0
		for _, p := range st.Partitions {
			if p.State == job.Succeeded {
				succeeded++
			}
		}
		require.Less(t, succeeded, len(st.Partitions), "cancel stopped the job before its end")
		_, err := os.Stat(filepath.Join(a.jobDir(id), model.ManifestFile))
		require.ErrorIs(t, err, os.ErrNotExist, "a cancelled job has no manifest")
	})

	t.Run("an include filter that matches nothing fails the job naming it", func(t *testing.T) { testEmptyMatch(t, a, pgConn, pgDSN) })
	t.Run("huge comments are cut, marked and counted", func(t *testing.T) { testTextCap(t, a) })

	t.Run("the source password appears nowhere", func(t *testing.T) {
		a := a.on(t)
		mariaCatalog(t, "sa_e2e_canary", 1, 5)
		mariaUser(t, "sa_canary", canary, `sa\_e2e\_canary\_%`)
		id := a.submit(strings.Join([]string{
			"version: 1", "connection: default/mysql/canary", "source:", "  kind: mysql",
			"  dsn: 'sa_canary@tcp(127.0.0.1:3306)/'", "  password: {store: secrets, key: demo-source-password}",
		}, "\n"))
		st := a.wait(id, 3*time.Minute)
		require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
		require.Equal(t, 5+1, countKind(a.assets(id), model.KindTable), "the job really read the source with the password")
		requireNowhere(t, a.s.DataDir(), canary)
	})
}

func mustStatus(t *testing.T, a agent, id string) job.Status {
	t.Helper()
	st, err := a.status(id)
	require.NoError(t, err)
	return st
}

// requireNowhere searches every file the stack wrote — logs of every
// process, the state store, staged and uploaded files, manifests, the
// broker's stored messages — for needle. Only the secret store's own file
// may hold it.
func requireNowhere(t *testing.T, dataDir, needle string) {
	t.Helper()
	var searched int
	var mu sync.Mutex
	err := filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || filepath.Base(p) == "secrets.json" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a file removed while walking
		}
		mu.Lock()
		searched++
		mu.Unlock()
		require.NotContains(t, string(b), needle, "the secret value appears in %s", p)
		return nil
	})
	require.NoError(t, err)
	for _, part := range []string{"logs", "nats", "state", "destination"} {
		_, err := os.Stat(filepath.Join(dataDir, part))
		require.NoError(t, err, "%s was searched", part)
	}
	t.Logf("searched %d files for the secret: none holds it", searched)
}

// TestPipelineRedis runs the happy path on PROFILE=redis.
func TestPipelineRedis(t *testing.T) {
	t.Parallel()
	flushRedisDB(t, "127.0.0.1:6379", 10)
	a, _ := pipelineStack(t, "redis", 24000, 10)
	sqlitePath := demoDB(t)
	id := a.submit("version: 1\nconnection: default/sqlite/redis\nsource:\n  kind: sqlite\n  dsn: '" + sqlitePath + "'\n")
	st := a.wait(id, 3*time.Minute)
	require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
	require.Equal(t, referenceAssets(t, "--source", "sqlite", "--dsn", sqlitePath, "--connection", "default/sqlite/redis"), a.assets(id))
}
