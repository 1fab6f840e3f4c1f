// Package logging builds the zap loggers used across secure-agent.
//
// The agent holds production database credentials, so every logger built
// here is wrapped in a redacting core (see NewRedactingCore): a secret must
// never reach a log line, even when a caller logs a DSN, a config map or an
// error that embeds one.
package logging

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options configures New.
type Options struct {
	// Service is added as field "service" on every line; omitted when empty.
	Service string
	// Level is debug|info|warn|error; empty means info.
	Level string
	// Format is json (production) or console (local development); empty
	// means json.
	Format string
	// Output receives the encoded lines; nil means os.Stderr.
	Output zapcore.WriteSyncer
	// Secrets, if set, holds the secret values this process read: each is
	// cut from every line, in every form (Secrets).
	Secrets *Secrets
}

var levels = map[string]zapcore.Level{
	"debug": zapcore.DebugLevel,
	"info":  zapcore.InfoLevel,
	"warn":  zapcore.WarnLevel,
	"error": zapcore.ErrorLevel,
}

const (
	acceptedLevels  = "debug, info, warn, error"
	acceptedFormats = "json, console"
)

// New builds a redacting logger. It never installs itself globally: callers
// pass the logger down explicitly.
func New(opts Options) (*zap.Logger, error) {
	levelName := strings.ToLower(strings.TrimSpace(opts.Level))
	if levelName == "" {
		levelName = "info"
	}
	level, ok := levels[levelName]
	if !ok {
		return nil, fmt.Errorf("logging: invalid level %q (accepted: %s)", opts.Level, acceptedLevels)
	}

	var enc zapcore.Encoder
	switch strings.ToLower(strings.TrimSpace(opts.Format)) {
	case "", "json":
		enc = zapcore.NewJSONEncoder(jsonEncoderConfig())
	case "console":
		enc = zapcore.NewConsoleEncoder(consoleEncoderConfig())
	default:
		return nil, fmt.Errorf("logging: invalid format %q (accepted: %s)", opts.Format, acceptedFormats)
	}

	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	// Lock so concurrent goroutines cannot interleave partial lines, and so
	// tests can hand in a plain bytes.Buffer.
	out = zapcore.Lock(opts.Secrets.WrapSyncer(out))

	core := NewSecretsCore(zapcore.NewCore(enc, out, level), opts.Secrets)
	// No sampling: dropping lines from a credential-handling agent would lose
	// exactly the audit trail an incident needs.
	logger := zap.New(core,
		zap.AddCaller(),
		zap.AddStacktrace(zapcore.ErrorLevel),
		zap.ErrorOutput(zapcore.Lock(os.Stderr)),
	)
	if opts.Service != "" {
		logger = logger.With(zap.String("service", opts.Service))
	}
	return logger, nil
}

// Nop returns a logger that discards everything, for tests and for callers
// that were given no logger.
func Nop() *zap.Logger { return zap.NewNop() }

func jsonEncoderConfig() zapcore.EncoderConfig {
	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = "ts"
	cfg.LevelKey = "level"
	cfg.MessageKey = "msg"
	cfg.CallerKey = "caller"
	cfg.NameKey = "logger"
	cfg.StacktraceKey = "stacktrace"
	// ISO8601 rather than zap's epoch float: log pipelines and humans both
	// read it without conversion.
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.EncodeLevel = zapcore.LowercaseLevelEncoder
	return cfg
}

func consoleEncoderConfig() zapcore.EncoderConfig {
	cfg := zap.NewDevelopmentEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	// Plain capitals: colour codes would corrupt output piped to a file.
	cfg.EncodeLevel = zapcore.CapitalLevelEncoder
	return cfg
}
