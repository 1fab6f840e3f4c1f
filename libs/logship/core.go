package logship

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap/zapcore"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// JobIDKey is the field that makes a log line part of a job's log.
const JobIDKey = "job_id"

const (
	// maxLineBytes bounds one encoded line so a single huge zap.Any cannot
	// fill the buffer or exceed a broker message.
	maxLineBytes = 32 << 10
	maxMsgBytes  = 4 << 10
	noMessage    = "(no message)"
)

// newCaptureCore is filter → redacting core → sink: lines without a job id
// cost a field scan only, and the ones kept are redacted by the same code as
// the service's own output.
func newCaptureCore(level zapcore.LevelEnabler, service string, buf *buffer, secrets *logging.Secrets) zapcore.Core {
	sink := &sinkCore{LevelEnabler: level, service: service, buf: buf}
	return &filterCore{LevelEnabler: level, inner: logging.NewSecretsCore(sink, secrets)}
}

// filterCore drops entries that carry no job id before they are redacted.
type filterCore struct {
	zapcore.LevelEnabler
	inner  zapcore.Core
	hasJob bool
	nested bool // a With field opened a namespace: later fields are not top level
}

func (c *filterCore) With(fields []zapcore.Field) zapcore.Core {
	_, found, nested := jobIDOf(fields, c.nested)
	return &filterCore{LevelEnabler: c.LevelEnabler, inner: c.inner.With(fields), hasJob: c.hasJob || found, nested: nested}
}

func (c *filterCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *filterCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if !c.hasJob {
		if _, found, _ := jobIDOf(fields, c.nested); !found {
			return nil
		}
	}
	return c.inner.Write(ent, fields)
}

func (c *filterCore) Sync() error { return nil }

// sinkCore encodes redacted entries into the buffer.
type sinkCore struct {
	zapcore.LevelEnabler
	service string
	buf     *buffer
	fields  []zapcore.Field // With fields, redacted
	jobID   string
	nested  bool
}

func (c *sinkCore) With(fields []zapcore.Field) zapcore.Core {
	id, found, nested := jobIDOf(fields, c.nested)
	if !found {
		id = c.jobID
	} else {
		id = strings.Clone(id) // kept past the caller's buffers; see buffer.job
	}
	return &sinkCore{LevelEnabler: c.LevelEnabler, service: c.service, buf: c.buf,
		fields: append(slices.Clip(c.fields), fields...), jobID: id, nested: nested}
}

func (c *sinkCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *sinkCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	id := c.jobID
	if v, found, _ := jobIDOf(fields, c.nested); found {
		id = v
	}
	if id == "" {
		return nil
	}
	c.buf.add(id, encodeLine(c.service, ent, append(slices.Clip(c.fields), fields...)))
	return nil
}

func (c *sinkCore) Sync() error { return nil }

// jobIDOf finds the last top-level string job_id among fields and whether a
// namespace is open after them.
func jobIDOf(fields []zapcore.Field, nested bool) (id string, found, nestedAfter bool) {
	for _, f := range fields {
		switch {
		case f.Type == zapcore.NamespaceType:
			nested = true
		case !nested && f.Key == JobIDKey && f.Type == zapcore.StringType:
			id, found = f.String, true
		}
	}
	return id, found, nested
}

// encodeLine encodes the entry as a controlplane.LogLine now, while the
// values the caller passed are still what was logged. The job id is left out
// of the fields: the batch names the job.
func encodeLine(service string, ent zapcore.Entry, fields []zapcore.Field) []byte {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	m := enc.Fields
	delete(m, JobIDKey)
	setIfAbsent(m, "logger", ent.LoggerName)
	if ent.Caller.Defined {
		setIfAbsent(m, "caller", ent.Caller.TrimmedPath())
	}
	setIfAbsent(m, "stacktrace", ent.Stack)

	line := controlplane.LogLine{TS: ent.Time.UTC(), Level: ent.Level.String(), Service: service, Msg: ent.Message, Fields: m}
	if ent.Time.IsZero() {
		line.TS = time.Now().UTC()
	}
	if line.Msg == "" {
		// The control plane requires a message on every line.
		line.Msg = noMessage
	}
	raw, err := json.Marshal(line)
	if err != nil {
		line.Fields = map[string]any{"fields_error": "the fields could not be encoded as JSON: " + logging.RedactString(err.Error())}
		raw, _ = json.Marshal(line)
	}
	if len(raw) > maxLineBytes {
		line.Msg = truncate(line.Msg, maxMsgBytes)
		line.Fields = map[string]any{"truncated": fmt.Sprintf("the line was %d bytes encoded, over the %d-byte limit; its fields were left out", len(raw), maxLineBytes)}
		raw, _ = json.Marshal(line)
	}
	return raw
}

func setIfAbsent(m map[string]any, k, v string) {
	if _, ok := m[k]; !ok && v != "" {
		m[k] = v
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
