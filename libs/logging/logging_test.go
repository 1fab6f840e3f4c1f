package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// canary is a secret value that must never appear in any encoded output.
const canary = "s3cr3t-Canary-9f2e"

// newBufferLogger returns a JSON logger writing into a buffer, and a func
// that decodes every line written so far.
func newBufferLogger(t *testing.T, opts Options) (*zap.Logger, *bytes.Buffer, func() []map[string]any) {
	t.Helper()
	buf := &bytes.Buffer{}
	opts.Output = zapcore.AddSync(buf)
	if opts.Service == "" {
		opts.Service = "test-svc"
	}
	logger, err := New(opts)
	require.NoError(t, err)
	decode := func() []map[string]any {
		t.Helper()
		var lines []map[string]any
		for _, raw := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if raw == "" {
				continue
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(raw), &m), "line is not JSON: %s", raw)
			lines = append(lines, m)
		}
		return lines
	}
	return logger, buf, decode
}

// logOne logs a single line and returns it decoded, failing if the canary
// leaked anywhere in the raw output.
func logOne(t *testing.T, fn func(l *zap.Logger)) map[string]any {
	t.Helper()
	logger, buf, decode := newBufferLogger(t, Options{Level: "debug"})
	fn(logger)
	require.NoError(t, logger.Sync())
	require.NotContains(t, buf.String(), canary, "secret leaked into log output")
	lines := decode()
	require.Len(t, lines, 1)
	return lines[0]
}

func TestNewOptionErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr []string
	}{
		{name: "bad level", opts: Options{Level: "verbose"}, wantErr: []string{`"verbose"`, "debug", "info", "warn", "error"}},
		{name: "fatal not accepted", opts: Options{Level: "fatal"}, wantErr: []string{`"fatal"`}},
		{name: "bad format", opts: Options{Format: "xml"}, wantErr: []string{`"xml"`, "json", "console"}},
		{name: "defaults", opts: Options{}},
		{name: "case insensitive", opts: Options{Level: "WARN", Format: "Console"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Output = zapcore.AddSync(&bytes.Buffer{})
			logger, err := New(tc.opts)
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				require.NotNil(t, logger)
				return
			}
			require.Error(t, err)
			require.Nil(t, logger)
			for _, s := range tc.wantErr {
				require.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestJSONShape(t *testing.T) {
	logger, _, decode := newBufferLogger(t, Options{Service: "extractor", Level: "info"})
	logger.Debug("dropped")
	logger.Warn("careful", zap.Int("n", 3))
	logger.Error("boom")
	lines := decode()
	require.Len(t, lines, 2, "debug must be filtered at info level")

	warn := lines[0]
	require.Equal(t, "warn", warn["level"])
	require.Equal(t, "careful", warn["msg"])
	require.Equal(t, "extractor", warn["service"])
	require.EqualValues(t, 3, warn["n"])
	require.Contains(t, warn["caller"], "logging_test.go:")
	ts, ok := warn["ts"].(string)
	require.True(t, ok, "ts must be an ISO8601 string, got %T", warn["ts"])
	_, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
	require.NoError(t, err)
	require.NotContains(t, warn, "stacktrace")

	require.Equal(t, "error", lines[1]["level"])
	require.Contains(t, lines[1], "stacktrace")
}

func TestConsoleFormat(t *testing.T) {
	buf := &bytes.Buffer{}
	logger, err := New(Options{Service: "svc", Format: "console", Output: zapcore.AddSync(buf)})
	require.NoError(t, err)
	logger.Info("connecting to postgres://bob:"+canary+"@db:5432/x", zap.String("password", canary))
	out := buf.String()
	require.Contains(t, out, "\tINFO\t")
	require.Contains(t, out, "postgres://bob:[REDACTED]@db:5432/x")
	require.Contains(t, out, `"service": "svc"`)
	require.NotContains(t, out, canary)
}

func TestNop(t *testing.T) {
	l := Nop()
	require.NotNil(t, l)
	l.Info("nothing", zap.String("password", canary))
}

func TestIsSecretKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"password", true},
		{"PASSWORD", true},
		{"db_password", true},
		{"dbPassword", true},
		{"DBPassword", true},
		{"PGPASSWORD", true},
		{"passwd", true},
		{"pwd", true},
		{"secret", true},
		{"clientSecret", true},
		{"client_secret", true},
		{"aws_secret_access_key", true},
		{"token", true},
		{"refreshToken", true},
		{"oauth2token", true},
		{"apikey", true},
		{"api_key", true},
		{"api-key", true},
		{"X-Api-Key", true},
		{"APIKey", true},
		{"credential", true},
		{"credentials", true},
		{"private_key", true},
		{"privateKey", true},
		{"Authorization", true},
		{"Proxy-Authorization", true},
		{"auth_header", true},
		{"cookie", true},
		{"Set-Cookie", true},
		{"session_key", true},
		{"dsn", true},
		{"DATABASE_DSN", true},
		{"connection_string", true},
		{"connectionString", true},
		{"access_key", true},
		{"accessKeyId", true},
		{"sas", true},
		{"sas_token", true},
		{"secret_id", true},
		{"password_hash", true},
		{"cfg.db.password", true},
		// negatives
		{"", false},
		{"user", false},
		{"username", false},
		{"host", false},
		{"tokenizer_count", false},
		{"secretary", false},
		{"key", false},
		{"cache_key", false},
		{"passenger", false},
		{"author", false},
		{"sasl_mechanism", false},
		{"description", false},
		// metadata about a secret, not the secret
		{"secret_name", false},
		{"secretStore", false},
		{"token_type", false},
		{"password_file", false},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			require.Equal(t, tc.want, IsSecretKey(tc.key))
		})
	}
}

func TestRedactString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain text untouched", "extracted 42 tables", "extracted 42 tables"},
		{"url userinfo", "postgres://u:pw@h", "postgres://u:[REDACTED]@h"},
		{"url with port and query", "dial postgres://admin:" + canary + "@db.internal:5432/app?sslmode=require failed",
			"dial postgres://admin:[REDACTED]@db.internal:5432/app?sslmode=require failed"},
		{"url password with @ and /", "mysql://root:p@ss/w0rd@h:3306/db", "mysql://root:[REDACTED]@h:3306/db"},
		{"url without password", "https://user@example.com/x", "https://user@example.com/x"},
		{"url password in query", "postgres://h/db?user=u&password=" + canary, "postgres://h/db?user=u&password=[REDACTED]"},
		{"mysql driver dsn", "open root:" + canary + "@tcp(db:3306)/meta", "open root:[REDACTED]@tcp(db:3306)/meta"},
		{"key=value", "password=" + canary, "password=[REDACTED]"},
		{"libpq conninfo", "host=db user=bob password=" + canary + " dbname=x", "host=db user=bob password=[REDACTED] dbname=x"},
		{"key: value", "token: " + canary, "token: [REDACTED]"},
		{"json", `{"user":"bob","secret":"` + canary + `","n":1}`, `{"user":"bob","secret":"[REDACTED]","n":1}`},
		{"json escaped quote in value", `{"password":"a\"` + canary + `"}`, `{"password":"[REDACTED]"}`},
		{"escaped json inside error text", `bad body {\"api_key\":\"` + canary + `\"}`, `bad body {\"api_key\":\"[REDACTED]\"}`},
		{"single quoted", `{'client_secret': '` + canary + `'}`, `{'client_secret': '[REDACTED]'}`},
		{"go struct %+v", "{Host:db Password:" + canary + "}", "{Host:db Password:[REDACTED]"},
		{"authorization bearer", "Authorization: Bearer " + canary, "Authorization: [REDACTED]"},
		{"authorization basic", "Authorization: Basic " + canary, "Authorization: [REDACTED]"},
		{"http.Header print", "map[Authorization:[Bearer " + canary + "]]", "map[Authorization:[[REDACTED]"},
		{"bare bearer", "sent bearer " + canary + " upstream", "sent bearer [REDACTED] upstream"},
		{"harmless key keeps scanning", "url=password=" + canary, "url=password=[REDACTED]"},
		{"sql server", "Server=db;User Id=sa;Password=" + canary + ";", "Server=db;User Id=sa;Password=[REDACTED]"},
		{"non-secret key:value", "retry: 3 host=db", "retry: 3 host=db"},
		{"pem", "key -----BEGIN RSA PRIVATE KEY-----\nMIIE" + canary + "\n-----END RSA PRIVATE KEY----- loaded", "key [REDACTED] loaded"},
		{"idempotent", "password=[REDACTED]", "password=[REDACTED]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RedactString(tc.in)
			require.Equal(t, tc.want, got)
			require.NotContains(t, got, canary)
			require.Equal(t, got, RedactString(got), "redaction must be idempotent")
		})
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type dbConfig struct {
	Host     string
	User     string
	Password string
	Options  map[string]string
}

type objMarshaler struct{}

func (objMarshaler) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("host", "db")
	enc.AddString("password", canary)
	enc.AddInt("pin_token", 1234)
	enc.AddString("note", "dsn=postgres://u:"+canary+"@h")
	return enc.AddObject("nested", zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
		enc.AddByteString("api_key", []byte(canary))
		enc.AddString("region", "eu")
		return nil
	}))
}

// Rule 1: a secret key is masked whatever the value's type.
func TestSecretKeyFieldAnyType(t *testing.T) {
	tests := []struct {
		name  string
		field zap.Field
	}{
		{"string", zap.String("password", canary)},
		{"bytestring", zap.ByteString("db_password", []byte(canary))},
		{"binary", zap.Binary("private_key", []byte(canary))},
		{"stringer", zap.Stringer("token", stringer{canary})},
		{"error", zap.NamedError("client_secret", errors.New(canary))},
		{"int", zap.Int("pin_token", 987654)},
		{"any map", zap.Any("credentials", map[string]any{"user": "u", "pw": canary})},
		{"any struct", zap.Any("dsn", dbConfig{Host: canary})},
		{"reflect", zap.Reflect("Authorization", []string{"Bearer", canary})},
		{"object", zap.Object("secret", objMarshaler{})},
		{"strings array", zap.Strings("api_keys", []string{canary})},
		{"dict", zap.Dict("connection_string", zap.String("v", canary))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := logOne(t, func(l *zap.Logger) { l.Info("m", tc.field) })
			require.Equal(t, Redacted, line[tc.field.Key])
		})
	}
}

// Rule 2: values and messages that embed secrets are masked in place.
func TestEmbeddedSecretsInValues(t *testing.T) {
	dsn := "postgres://extractor:" + canary + "@pg.prod:5432/meta"
	want := "postgres://extractor:[REDACTED]@pg.prod:5432/meta"

	t.Run("string field", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.String("target", dsn)) })
		require.Equal(t, want, line["target"])
	})
	t.Run("message", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("connecting to " + dsn + " with password=" + canary) })
		require.Equal(t, "connecting to "+want+" with password=[REDACTED]", line["msg"])
	})
	t.Run("error wrapping a dsn", func(t *testing.T) {
		inner := fmt.Errorf("dial %s: connection refused", dsn)
		err := fmt.Errorf("extract schema: %w", inner)
		line := logOne(t, func(l *zap.Logger) { l.Error("failed", zap.Error(err)) })
		require.Equal(t, "extract schema: dial "+want+": connection refused", line["error"])
		require.NotContains(t, line, "errorVerbose")
	})
	t.Run("joined errors", func(t *testing.T) {
		err := errors.Join(errors.New("a"), fmt.Errorf("token=%s", canary))
		line := logOne(t, func(l *zap.Logger) { l.Error("failed", zap.Error(err)) })
		require.Equal(t, "a\ntoken=[REDACTED]", line["error"])
		require.NotContains(t, line, "errorCauses")
	})
	t.Run("stringer", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.Stringer("conn", stringer{dsn})) })
		require.Equal(t, want, line["conn"])
	})
	t.Run("bytestring", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.ByteString("body", []byte(`{"token":"`+canary+`"}`))) })
		require.Equal(t, `{"token":"[REDACTED]"}`, line["body"])
	})
	t.Run("string slice", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.Strings("targets", []string{"a", dsn})) })
		require.Equal(t, []any{"a", want}, line["targets"])
	})
	t.Run("any string", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.Any("target", dsn)) })
		require.Equal(t, want, line["target"])
	})
	t.Run("non-secret values untouched", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) {
			l.Info("m", zap.String("table", "public.users"), zap.Int("rows", 7), zap.Bool("ok", true))
		})
		require.Equal(t, "public.users", line["table"])
		require.EqualValues(t, 7, line["rows"])
		require.Equal(t, true, line["ok"])
	})
}

// Rule 3: maps passed with zap.Any are walked recursively.
func TestNestedMaps(t *testing.T) {
	t.Run("map[string]any", func(t *testing.T) {
		cfg := map[string]any{
			"host": "db",
			"port": 5432,
			"auth": map[string]any{
				"user":     "bob",
				"password": canary,
				"extra":    map[string]string{"apiKey": canary, "region": "eu"},
			},
			"replicas": []any{
				map[string]any{"host": "r1", "dsn": "postgres://u:" + canary + "@r1"},
				"mysql://u:" + canary + "@r2",
			},
		}
		line := logOne(t, func(l *zap.Logger) { l.Info("cfg", zap.Any("config", cfg)) })
		got := line["config"].(map[string]any)
		require.Equal(t, "db", got["host"])
		require.EqualValues(t, 5432, got["port"])
		auth := got["auth"].(map[string]any)
		require.Equal(t, "bob", auth["user"])
		require.Equal(t, Redacted, auth["password"])
		require.Equal(t, map[string]any{"apiKey": Redacted, "region": "eu"}, auth["extra"])
		replicas := got["replicas"].([]any)
		require.Equal(t, map[string]any{"host": "r1", "dsn": Redacted}, replicas[0])
		require.Equal(t, "mysql://u:[REDACTED]@r2", replicas[1])
	})
	t.Run("map[string]string", func(t *testing.T) {
		md := map[string]string{"Authorization": "Bearer " + canary, "x-request-id": "abc", "url": "redis://:" + canary + "@cache:6379"}
		line := logOne(t, func(l *zap.Logger) { l.Info("md", zap.Any("metadata", md)) })
		require.Equal(t, map[string]any{"Authorization": Redacted, "x-request-id": "abc", "url": "redis://:[REDACTED]@cache:6379"}, line["metadata"])
	})
	t.Run("struct with secret field", func(t *testing.T) {
		cfg := dbConfig{Host: "db", User: "bob", Password: canary, Options: map[string]string{"sslpassword": canary, "sslmode": "verify-full"}}
		line := logOne(t, func(l *zap.Logger) { l.Info("cfg", zap.Any("db", cfg)) })
		require.Equal(t, map[string]any{
			"Host": "db", "User": "bob", "Password": Redacted,
			"Options": map[string]any{"sslpassword": Redacted, "sslmode": "verify-full"},
		}, line["db"])
	})
	t.Run("pointer to struct", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("cfg", zap.Any("db", &dbConfig{Password: canary})) })
		require.Equal(t, Redacted, line["db"].(map[string]any)["Password"])
	})
	t.Run("self-referencing map terminates", func(t *testing.T) {
		m := map[string]any{"token": canary}
		m["self"] = m
		logger, buf, _ := newBufferLogger(t, Options{})
		logger.Info("loop", zap.Any("m", m))
		require.NotContains(t, buf.String(), canary)
	})
}

func TestObjectMarshalers(t *testing.T) {
	t.Run("object", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.Object("db", objMarshaler{})) })
		require.Equal(t, map[string]any{
			"host": "db", "password": Redacted, "pin_token": Redacted, "note": "dsn=[REDACTED]",
			"nested": map[string]any{"api_key": Redacted, "region": "eu"},
		}, line["db"])
	})
	t.Run("dict", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) {
			l.Info("m", zap.Dict("req", zap.String("path", "/v1"), zap.String("cookie", canary)))
		})
		require.Equal(t, map[string]any{"path": "/v1", "cookie": Redacted}, line["req"])
	})
	t.Run("inline", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.Inline(objMarshaler{})) })
		require.Equal(t, "db", line["host"])
		require.Equal(t, Redacted, line["password"])
	})
	t.Run("array of objects", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) { l.Info("m", zap.Objects("dbs", []objMarshaler{{}})) })
		require.Equal(t, Redacted, line["dbs"].([]any)[0].(map[string]any)["password"])
	})
}

// Rule 4: fields attached with With are redacted too.
func TestWithFields(t *testing.T) {
	logger, buf, decode := newBufferLogger(t, Options{})
	child := logger.With(
		zap.String("password", canary),
		zap.String("target", "postgres://u:"+canary+"@h/db"),
		zap.Any("meta", map[string]any{"token": canary, "tenant": "acme"}),
	)
	grandchild := child.With(zap.Error(fmt.Errorf("auth: token=%s", canary)))
	child.Info("first")
	grandchild.Warn("second", zap.String("table", "t1"))
	require.NoError(t, logger.Sync())
	require.NotContains(t, buf.String(), canary)

	lines := decode()
	require.Len(t, lines, 2)
	for _, line := range lines {
		require.Equal(t, "test-svc", line["service"])
		require.Equal(t, Redacted, line["password"])
		require.Equal(t, "postgres://u:[REDACTED]@h/db", line["target"])
		require.Equal(t, map[string]any{"token": Redacted, "tenant": "acme"}, line["meta"])
	}
	require.Equal(t, "auth: token=[REDACTED]", lines[1]["error"])
	require.Equal(t, "t1", lines[1]["table"])
}

func TestSecretNamespace(t *testing.T) {
	t.Run("namespace in With covers later fields", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) {
			l.With(zap.String("host", "db"), zap.Namespace("credentials")).Info("m", zap.String("user", canary), zap.Int("n", 1))
		})
		require.Equal(t, "db", line["host"])
		require.Equal(t, map[string]any{"user": Redacted, "n": Redacted}, line["credentials"])
	})
	t.Run("harmless namespace", func(t *testing.T) {
		line := logOne(t, func(l *zap.Logger) {
			l.Info("m", zap.Namespace("db"), zap.String("user", "bob"), zap.String("password", canary))
		})
		require.Equal(t, map[string]any{"user": "bob", "password": Redacted}, line["db"])
	})
}

// NewRedactingCore is usable on its own around any core.
func TestNewRedactingCoreStandalone(t *testing.T) {
	buf := &bytes.Buffer{}
	inner := zapcore.NewCore(zapcore.NewJSONEncoder(jsonEncoderConfig()), zapcore.AddSync(buf), zapcore.InfoLevel)
	core := NewRedactingCore(inner)
	require.Same(t, core, NewRedactingCore(core), "wrapping twice must not double the work")
	require.Equal(t, zapcore.InfoLevel, zapcore.LevelOf(core))

	logger := zap.New(core)
	logger.Debug("filtered", zap.String("x", "y"))
	logger.Info("token="+canary, zap.String("secret", canary))
	require.NotContains(t, buf.String(), canary)
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, "token=[REDACTED]", line["msg"])
	require.Equal(t, Redacted, line["secret"])
}

func TestWithTraceAddsTheSpan(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Options{Output: zapcore.AddSync(&buf)})
	require.NoError(t, err)
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	WithTrace(ctx, log).Info("in a span")
	WithTrace(context.Background(), log).Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	var in, out map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &in))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &out))
	require.Equal(t, "0af7651916cd43dd8448eb211c80319c", in[TraceIDKey])
	require.Equal(t, "b7ad6b7169203331", in[SpanIDKey])
	require.NotContains(t, out, TraceIDKey)
}
