package config

import (
	"bytes"
	"errors"
	"flag"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// envOf builds a LookupEnv from a map so tests never touch the real environment.
func envOf(m map[string]string) LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// problems returns the problems of an *Error, failing the test for any other error.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	require.Error(t, err)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	return ce.Problems
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantPort int
		wantMode string
	}{
		{"default", nil, nil, 8080, "fast"},
		{"env beats default", nil, map[string]string{"HTTP_PORT": "9000", "RUN_MODE": "safe"}, 9000, "safe"},
		{"flag beats env", []string{"--http-port=9100", "--run-mode", "strict"}, map[string]string{"HTTP_PORT": "9000", "RUN_MODE": "safe"}, 9100, "strict"},
		{"single dash flag", []string{"-http-port", "9200"}, nil, 9200, "fast"},
		{"last flag wins", []string{"--http-port=1", "--http-port=2"}, nil, 2, "fast"},
		{"empty env counts as unset", nil, map[string]string{"HTTP_PORT": "", "RUN_MODE": ""}, 8080, "fast"},
		{"empty flag is literal", []string{"--run-mode="}, map[string]string{"RUN_MODE": "safe"}, 8080, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var port int
			var mode string
			l := New("svc")
			l.Port(&port, "HTTP_PORT", 8080, "port to listen on")
			l.String(&mode, "RUN_MODE", "fast", "how to run")
			require.NoError(t, l.Load(tt.args, envOf(tt.env)))
			require.Equal(t, tt.wantPort, port)
			require.Equal(t, tt.wantMode, mode)
		})
	}
}

func TestTypesValid(t *testing.T) {
	var (
		s    string
		i    int
		p    int
		b    bool
		d    time.Duration
		z    time.Duration
		e    string
		u    *url.URL
		hp   string
		none *url.URL
	)
	l := New("svc")
	l.String(&s, "NAME", "", "a name")
	l.Int(&i, "COUNT", 0, "a count")
	l.Port(&p, "PORT", 1, "a port")
	l.Bool(&b, "DEBUG", false, "debug mode")
	l.Duration(&d, "TIMEOUT", time.Second, "a timeout")
	l.Duration(&z, "GRACE", time.Second, "grace period", AllowZero())
	l.Enum(&e, "LEVEL", "info", []string{"debug", "info"}, "log level")
	l.URL(&u, "DAPR_URL", "", "sidecar URL")
	l.URL(&none, "OPTIONAL_URL", "", "optional URL")
	l.HostPort(&hp, "GRPC_ADDR", "", "gRPC address")

	err := l.Load([]string{"--debug", "--count=-7", "--grace=0"}, envOf(map[string]string{
		"NAME": "x", "PORT": "65535", "TIMEOUT": "1h30m", "LEVEL": "debug",
		"DAPR_URL": "http://localhost:3500/v1.0", "GRPC_ADDR": ":50001",
	}))
	require.NoError(t, err)
	require.Equal(t, "x", s)
	require.Equal(t, -7, i)
	require.Equal(t, 65535, p)
	require.True(t, b)
	require.Equal(t, 90*time.Minute, d)
	require.Equal(t, time.Duration(0), z)
	require.Equal(t, "debug", e)
	require.NotNil(t, u)
	require.Equal(t, "localhost:3500", u.Host)
	require.Equal(t, "/v1.0", u.Path)
	require.Nil(t, none)
	require.Equal(t, ":50001", hp)
}

func TestBoolForms(t *testing.T) {
	tests := []struct {
		args []string
		env  string
		want bool
	}{
		{[]string{"--debug"}, "", true},
		{[]string{"--debug=false"}, "true", false},
		{[]string{"--debug=0"}, "", false},
		{nil, "T", true},
		{nil, "FALSE", false},
		{nil, "1", true},
		{nil, "", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+"/"+tt.env, func(t *testing.T) {
			b := !tt.want // so a Load that does not set it fails the test
			l := New("svc")
			l.Bool(&b, "DEBUG", false, "debug mode")
			require.NoError(t, l.Load(tt.args, envOf(map[string]string{"DEBUG": tt.env})))
			require.Equal(t, tt.want, b)
		})
	}
}

func TestInvalidValues(t *testing.T) {
	tests := []struct {
		name     string
		register func(l *Loader)
		value    string
		want     string
	}{
		{"int", func(l *Loader) { l.Int(new(int), "WORKERS", 1, "workers") }, "many",
			`WORKERS (--workers): invalid value "many": must be a whole number, for example 10`},
		{"port not a number", func(l *Loader) { l.Port(new(int), "HTTP_PORT", 80, "port") }, "abc",
			`HTTP_PORT (--http-port): invalid value "abc": must be a whole number from 1 to 65535`},
		{"port zero", func(l *Loader) { l.Port(new(int), "HTTP_PORT", 80, "port") }, "0",
			`HTTP_PORT (--http-port): invalid value "0": must be a whole number from 1 to 65535`},
		{"port too big", func(l *Loader) { l.Port(new(int), "HTTP_PORT", 80, "port") }, "65536",
			`HTTP_PORT (--http-port): invalid value "65536": must be a whole number from 1 to 65535`},
		{"bool", func(l *Loader) { l.Bool(new(bool), "DEBUG", false, "debug") }, "yes",
			`DEBUG (--debug): invalid value "yes": must be true or false (1, 0, t, f, TRUE, FALSE, True and False are accepted too)`},
		{"duration no unit", func(l *Loader) { l.Duration(new(time.Duration), "TIMEOUT", time.Second, "t") }, "30",
			`TIMEOUT (--timeout): invalid value "30": must be a duration such as 500ms, 30s, 5m or 1h30m`},
		{"duration zero", func(l *Loader) { l.Duration(new(time.Duration), "TIMEOUT", time.Second, "t") }, "0s",
			`TIMEOUT (--timeout): invalid value "0s": must be greater than zero; must be a duration such as 500ms, 30s, 5m or 1h30m`},
		{"duration negative", func(l *Loader) { l.Duration(new(time.Duration), "TIMEOUT", time.Second, "t", AllowZero()) }, "-5s",
			`TIMEOUT (--timeout): invalid value "-5s": must not be negative; must be a duration such as 500ms, 30s, 5m or 1h30m`},
		{"enum", func(l *Loader) { l.Enum(new(string), "LOG_LEVEL", "info", []string{"debug", "info", "warn"}, "level") }, "INFO",
			`LOG_LEVEL (--log-level): invalid value "INFO": must be one of: debug, info, warn`},
		{"url relative", func(l *Loader) { l.URL(new(*url.URL), "DAPR_URL", "", "sidecar") }, "localhost:3500",
			`DAPR_URL (--dapr-url): invalid value "localhost:3500": must be an absolute URL with scheme and host, for example http://localhost:3500`},
		{"url no host", func(l *Loader) { l.URL(new(*url.URL), "DAPR_URL", "", "sidecar") }, "http://",
			`DAPR_URL (--dapr-url): invalid value "http://": must be an absolute URL with scheme and host, for example http://localhost:3500`},
		{"url unparsable", func(l *Loader) { l.URL(new(*url.URL), "DAPR_URL", "", "sidecar") }, "http://[::1",
			`DAPR_URL (--dapr-url): invalid value "http://[::1": must be an absolute URL with scheme and host, for example http://localhost:3500`},
		{"hostport no port", func(l *Loader) { l.HostPort(new(string), "GRPC_ADDR", "", "addr") }, "localhost",
			`GRPC_ADDR (--grpc-addr): invalid value "localhost": must be host:port with a port from 1 to 65535, for example localhost:50001 or :8080`},
		{"hostport named port", func(l *Loader) { l.HostPort(new(string), "GRPC_ADDR", "", "addr") }, "localhost:http",
			`GRPC_ADDR (--grpc-addr): invalid value "localhost:http": must be host:port with a port from 1 to 65535, for example localhost:50001 or :8080`},
		{"hostport port range", func(l *Loader) { l.HostPort(new(string), "GRPC_ADDR", "", "addr") }, "db:70000",
			`GRPC_ADDR (--grpc-addr): invalid value "db:70000": must be host:port with a port from 1 to 65535, for example localhost:50001 or :8080`},
	}
	for _, tt := range tests {
		for _, via := range []string{"env", "flag"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				l := New("svc")
				tt.register(l)
				name := l.settings[0].name
				var args []string
				env := map[string]string{}
				if via == "flag" {
					args = []string{"--" + l.settings[0].flag + "=" + tt.value}
				} else {
					env[name] = tt.value
				}
				ps := problems(t, l.Load(args, envOf(env)))
				require.Len(t, ps, 1)
				require.Equal(t, name, ps[0].Setting)
				require.Equal(t, tt.want, ps[0].String())
			})
		}
	}
}

func TestManyProblemsAtOnce(t *testing.T) {
	var port, workers int
	var level, token string
	var timeout time.Duration
	l := New("orchestrator")
	l.Port(&port, "HTTP_PORT", 8080, "port the API listens on")
	l.Int(&workers, "WORKERS", 4, "parallel extractions")
	l.Enum(&level, "LOG_LEVEL", "info", []string{"debug", "info"}, "log level")
	l.String(&token, "API_TOKEN", "", "token callers present", Required(), Secret())
	l.Duration(&timeout, "TIMEOUT", time.Second, "request timeout")

	err := l.Load([]string{"--timeout=soon", "--bogus=1", "extra"}, envOf(map[string]string{
		"HTTP_PORT": "abc", "WORKERS": "8", "LOG_LEVEL": "loud",
	}))
	ps := problems(t, err)
	want := []Problem{
		{"HTTP_PORT", "--http-port", `invalid value "abc": must be a whole number from 1 to 65535`},
		{"LOG_LEVEL", "--log-level", `invalid value "loud": must be one of: debug, info`},
		{"API_TOKEN", "--api-token", "missing setting: token callers present; set the environment variable API_TOKEN or pass --api-token"},
		{"TIMEOUT", "--timeout", `invalid value "soon": must be a duration such as 500ms, 30s, 5m or 1h30m`},
		{"", "--bogus", "unknown flag; run with --help to list the accepted flags"},
		{"", "", `unexpected argument "extra": this program takes only flags (--name=value); remove it or add the missing flag name`},
	}
	require.Equal(t, want, ps)
	require.Equal(t, 8, workers, "valid settings are still filled when others fail")
	require.Equal(t, "orchestrator: 6 configuration problems:\n"+
		"  - HTTP_PORT (--http-port): invalid value \"abc\": must be a whole number from 1 to 65535\n"+
		"  - LOG_LEVEL (--log-level): invalid value \"loud\": must be one of: debug, info\n"+
		"  - API_TOKEN (--api-token): missing setting: token callers present; set the environment variable API_TOKEN or pass --api-token\n"+
		"  - TIMEOUT (--timeout): invalid value \"soon\": must be a duration such as 500ms, 30s, 5m or 1h30m\n"+
		"  - --bogus: unknown flag; run with --help to list the accepted flags\n"+
		"  - unexpected argument \"extra\": this program takes only flags (--name=value); remove it or add the missing flag name\n"+
		"Fix the settings above (environment variables or flags) and start again.", err.Error())
}

func TestSingleProblemWording(t *testing.T) {
	l := New("health")
	l.Port(new(int), "HTTP_PORT", 8080, "port")
	err := l.Load([]string{"--http-port=x"}, nil)
	require.EqualError(t, err, "health: 1 configuration problem:\n"+
		"  - HTTP_PORT (--http-port): invalid value \"x\": must be a whole number from 1 to 65535\n"+
		"Fix the settings above (environment variables or flags) and start again.")
}

func TestRequired(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr bool
		want    string
	}{
		{"unset", nil, nil, true, ""},
		{"empty env", nil, map[string]string{"STORE_NAME": ""}, true, ""},
		{"empty flag", []string{"--store-name="}, map[string]string{"STORE_NAME": "env"}, true, ""},
		{"from env", nil, map[string]string{"STORE_NAME": "statestore"}, false, "statestore"},
		{"from flag", []string{"--store-name", "redis"}, nil, false, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var store string
			l := New("svc")
			// The default is ignored for Required settings: the operator must choose.
			l.String(&store, "STORE_NAME", "ignored-default", "Dapr state store component", Required())
			err := l.Load(tt.args, envOf(tt.env))
			if !tt.wantErr {
				require.NoError(t, err)
				require.Equal(t, tt.want, store)
				return
			}
			ps := problems(t, err)
			require.Equal(t, []Problem{{"STORE_NAME", "--store-name",
				"missing setting: Dapr state store component; set the environment variable STORE_NAME or pass --store-name"}}, ps)
		})
	}
}

func TestRequiredTypedAndURL(t *testing.T) {
	var u *url.URL
	var port int
	var addr string
	l := New("svc")
	l.URL(&u, "DAPR_URL", "http://default:1", "sidecar URL", Required())
	l.Port(&port, "PORT", 8080, "port", Required())
	l.HostPort(&addr, "ADDR", "", "address", Required())
	ps := problems(t, l.Load(nil, nil))
	require.Len(t, ps, 3)
	require.Equal(t, []string{"DAPR_URL", "PORT", "ADDR"}, []string{ps[0].Setting, ps[1].Setting, ps[2].Setting})
	for _, p := range ps {
		require.True(t, strings.HasPrefix(p.Message, "missing setting: "), p.Message)
	}
}

func TestSecretNeverLeaks(t *testing.T) {
	const secret = "s3cr3t-Value"
	const defSecret = "default-s3cr3t"

	var token, pass string
	var workers int
	var dsn *url.URL
	l := New("svc")
	l.String(&token, "API_TOKEN", defSecret, "API token", Secret())
	l.Int(&workers, "WORKERS", 1, "workers", Secret())
	l.Enum(&pass, "MODE", "a", []string{"a", "b"}, "mode", Secret())
	l.URL(&dsn, "DSN", "", "database URL", Secret())

	usage := l.Usage()
	require.NotContains(t, usage, defSecret)
	require.Contains(t, usage, "default [set]")

	err := l.Load([]string{"--workers=" + secret, "--mode", secret, "--unknown-token", secret, "--other=" + secret},
		envOf(map[string]string{"DSN": secret}))
	ps := problems(t, err)
	require.Len(t, ps, 5)
	require.NotContains(t, err.Error(), secret)
	require.Contains(t, err.Error(), "WORKERS (--workers): invalid value (not shown because the setting is secret): must be a whole number")
	require.Contains(t, err.Error(), "MODE (--mode): invalid value (not shown because the setting is secret): must be one of: a, b")
	require.Contains(t, err.Error(), "DSN (--dsn): invalid value (not shown because the setting is secret): must be an absolute URL")

	d := l.Describe()
	for k, v := range d {
		require.NotContains(t, v, secret, k)
		require.NotContains(t, v, defSecret, k)
	}
	require.Equal(t, "[set]", d["API_TOKEN"])
	require.Equal(t, defSecret, token, "the secret default is still used")
	require.Equal(t, "[unset]", d["DSN"])

	// Checks on secrets name the setting, never the value (the message is the caller's).
	l.Check(false, "API_TOKEN", "must be at least 32 characters")
	require.NotContains(t, l.Err().Error(), defSecret)
}

func TestDescribe(t *testing.T) {
	var port int
	var debug bool
	var timeout time.Duration
	var u, noURL *url.URL
	var token, empty string
	l := New("svc")
	l.Port(&port, "HTTP_PORT", 8080, "port")
	l.Bool(&debug, "DEBUG", false, "debug")
	l.Duration(&timeout, "TIMEOUT", 30*time.Second, "timeout")
	l.URL(&u, "STORE_URL", "", "store")
	l.URL(&noURL, "OTHER_URL", "", "other")
	l.String(&token, "TOKEN", "", "token", Secret())
	l.String(&empty, "EMPTY", "", "nothing")
	require.NoError(t, l.Load([]string{"--debug"}, envOf(map[string]string{
		"STORE_URL": "https://user:hunter2@store.local:8443/db",
	})))
	require.Equal(t, map[string]string{
		"HTTP_PORT": "8080",
		"DEBUG":     "true",
		"TIMEOUT":   "30s",
		"STORE_URL": "https://user:xxxxx@store.local:8443/db",
		"OTHER_URL": "",
		"TOKEN":     "[unset]",
		"EMPTY":     "",
	}, l.Describe())
}

func TestCommandLineProblems(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []Problem
	}{
		{"unknown flag with value", []string{"--nope=1"},
			[]Problem{{"", "--nope", "unknown flag; run with --help to list the accepted flags"}}},
		{"unknown flag swallows its value", []string{"--nope", "value", "--port=2"},
			[]Problem{{"", "--nope", "unknown flag; run with --help to list the accepted flags"}}},
		{"positional", []string{"run"},
			[]Problem{{"", "", `unexpected argument "run": this program takes only flags (--name=value); remove it or add the missing flag name`}}},
		{"after double dash", []string{"--", "--port=3"},
			[]Problem{{"", "", `unexpected argument "--port=3": this program takes only flags (--name=value); remove it or add the missing flag name`}}},
		{"bad syntax", []string{"---port=3"},
			[]Problem{{"", "", `bad flag syntax "---port=3": write flags as --name=value or --name value`}}},
		{"missing value", []string{"--port"},
			[]Problem{{"PORT", "--port", "flag needs a value: pass --port=VALUE (port)"}}},
		{"bool does not take the next word", []string{"--debug", "false"},
			[]Problem{{"", "", `unexpected argument "false": this program takes only flags (--name=value); remove it or add the missing flag name`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New("svc")
			l.Port(new(int), "PORT", 1, "port")
			l.Bool(new(bool), "DEBUG", false, "debug")
			require.Equal(t, tt.want, problems(t, l.Load(tt.args, nil)))
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"--port=bad", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			l := New("extractor")
			l.SetOutput(&out)
			l.Port(new(int), "PORT", 8080, "port the API listens on")
			l.Enum(new(string), "LOG_LEVEL", "info", []string{"debug", "info"}, "log level")
			l.String(new(string), "TOKEN", "", "API token", Required(), Secret())
			err := l.Load(args, nil)
			require.ErrorIs(t, err, ErrHelp)
			require.ErrorIs(t, err, flag.ErrHelp)
			require.Equal(t, l.Usage(), out.String())
			require.Equal(t, "Usage: extractor [flags]\n\n"+
				"Each setting is read from its flag, else its environment variable, else its default.\n\n"+
				"  --port port\n        port the API listens on (env PORT, default \"8080\")\n"+
				"  --log-level string\n        log level (env LOG_LEVEL, default \"info\", one of: debug, info)\n"+
				"  --token string\n        API token (env TOKEN, required, secret)\n"+
				"  -h, --help\n        show this help and exit\n", out.String())
		})
	}
}

func TestHelpDefaultOutputIsDiscarded(t *testing.T) {
	l := New("svc")
	require.ErrorIs(t, l.Load([]string{"-h"}, nil), ErrHelp)
}

func TestCheck(t *testing.T) {
	newLoader := func(http, grpc *int) *Loader {
		l := New("svc")
		l.Port(http, "HTTP_PORT", 8080, "HTTP port")
		l.Int(new(int), "WORKERS", 1, "workers")
		l.Port(grpc, "GRPC_PORT", 50001, "gRPC port")
		return l
	}

	t.Run("no problems", func(t *testing.T) {
		var h, g int
		l := newLoader(&h, &g)
		require.NoError(t, l.Load(nil, nil))
		l.Check(h != g, "GRPC_PORT", "must differ from HTTP_PORT")
		require.NoError(t, l.Err())
	})

	t.Run("check only", func(t *testing.T) {
		var h, g int
		l := newLoader(&h, &g)
		require.NoError(t, l.Load([]string{"--grpc-port=8080"}, nil))
		l.Check(h != g, "GRPC_PORT", "must differ from HTTP_PORT")
		l.Check(false, "NOT_REGISTERED", "cross-check failed")
		require.Equal(t, []Problem{
			{"GRPC_PORT", "--grpc-port", "must differ from HTTP_PORT"},
			{"NOT_REGISTERED", "", "cross-check failed"},
		}, problems(t, l.Err()))
	})

	t.Run("parse and check problems merge in registration order", func(t *testing.T) {
		var h, g int
		l := newLoader(&h, &g)
		loadErr := l.Load(nil, envOf(map[string]string{"WORKERS": "x", "GRPC_PORT": "8080"}))
		require.Equal(t, []Problem{{"WORKERS", "--workers", `invalid value "x": must be a whole number, for example 10`}}, problems(t, loadErr))
		l.Check(h != g, "GRPC_PORT", "must differ from HTTP_PORT")
		l.Check(h >= 1024, "HTTP_PORT", "must be 1024 or above")
		l.Check(true, "WORKERS", "never reported")
		require.Equal(t, []Problem{
			{"WORKERS", "--workers", `invalid value "x": must be a whole number, for example 10`},
			{"GRPC_PORT", "--grpc-port", "must differ from HTTP_PORT"},
		}, problems(t, l.Err()))
		require.Len(t, problems(t, loadErr), 1, "the error Load returned is not changed afterwards")
	})

	t.Run("check on a setting that failed to parse is skipped", func(t *testing.T) {
		var h, g int
		l := newLoader(&h, &g)
		require.Error(t, l.Load([]string{"--http-port=abc"}, nil))
		l.Check(h >= 1024, "HTTP_PORT", "must be 1024 or above")
		ps := problems(t, l.Err())
		require.Len(t, ps, 1)
		require.Contains(t, ps[0].Message, `invalid value "abc"`)
	})

	t.Run("load resets earlier checks", func(t *testing.T) {
		var h, g int
		l := newLoader(&h, &g)
		require.NoError(t, l.Load(nil, nil))
		l.Check(false, "HTTP_PORT", "stale")
		require.Error(t, l.Err())
		require.NoError(t, l.Load(nil, nil))
		require.NoError(t, l.Err())
	})
}

func TestRegistrationMistakes(t *testing.T) {
	l := New("svc")
	l.Int(new(int), "WORKERS", 1, "workers")
	l.Int(new(int), "WORKERS", 2, "workers again")
	l.String(new(string), "", "", "nameless")
	l.Enum(new(string), "MODE", "", []string{"a", "b"}, "mode with a default that is not allowed")
	ps := problems(t, l.Load(nil, nil))
	require.Equal(t, []Problem{
		{"WORKERS", "--workers", "registered twice; this is a bug in the program, report it"},
		{"MODE", "--mode", `invalid value "": must be one of: a, b`},
		{"", "", "a setting was registered without a name; this is a bug in the program, report it"},
	}, ps)
}

func TestErrorIsTyped(t *testing.T) {
	l := New("svc")
	l.Port(new(int), "PORT", 0, "port")
	err := l.Load(nil, nil)
	var ce *Error
	require.True(t, errors.As(err, &ce))
	require.Equal(t, "svc", ce.Program)
	require.Nil(t, New("svc").Err(), "Err is a true nil when there is nothing to report")
}
