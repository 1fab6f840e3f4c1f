package logging

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap/zapcore"
)

// MaxRegisteredSecrets bounds a Secrets registry: a process reads a
// handful of distinct secrets (passwords, client secrets, keys) and their
// rotations. Past the bound the oldest value is forgotten.
const MaxRegisteredSecrets = 1024

// Secrets is the set of secret values this process has read. Every logger
// built with it (Options.Secrets, NewRedactingCore) cuts each registered
// value, in every form a server may echo it (SecretForms) and as JSON
// escapes it, from messages, every field and every error, and then from
// the encoded line itself. Register a value as soon as it is read, before
// anything can log it.
type Secrets struct {
	mu        sync.RWMutex
	values    []string
	forms     *formSet // every form, longest first; nil when empty
	lineForms *formSet // the forms of at least minLineForm bytes
}

// minLineForm is the shortest form cut from an encoded line as a whole:
// shorter ones could be the line's own structure (a quote, a brace, a key)
// and are cut field by field instead, where they cannot break it.
const minLineForm = 8

// NewSecrets returns an empty registry.
func NewSecrets() *Secrets { return &Secrets{} }

// Register adds a secret value. Empty values are ignored.
func (s *Secrets) Register(v string) {
	if s == nil || v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.values, v) {
		return
	}
	if len(s.values) >= MaxRegisteredSecrets {
		s.values = s.values[1:]
	}
	s.values = append(s.values, v)
	s.forms = compileForms(s.values, 1)
	s.lineForms = compileForms(s.values, minLineForm)
}

// Len is the number of registered values.
func (s *Secrets) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.values)
}

// formSet finds the longest registered form starting at a position.
// Secrets are bytes, not necessarily UTF-8, so this matches bytes.
type formSet struct {
	byFirst [256][]string // forms by first byte, longest first
}

func compileForms(values []string, minLen int) *formSet {
	var forms []string
	for _, v := range values {
		for _, f := range SecretForms(v) {
			for _, g := range []string{f, jsonEscaped(f)} {
				if len(g) >= minLen {
					forms = append(forms, g)
				}
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	fs := &formSet{}
	for _, f := range slices.Compact(forms) {
		fs.byFirst[f[0]] = append(fs.byFirst[f[0]], f)
	}
	return fs
}

// find returns the first match at or after pos: its start and end, or -1.
func (fs *formSet) find(s string, pos int) (int, int) {
	for i := pos; i < len(s); i++ {
		for _, f := range fs.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], f) {
				return i, i + len(f)
			}
		}
	}
	return -1, -1
}

// jsonEscaped is f as zap's JSON encoder writes it inside a string, so a
// secret with a quote, backslash or control character is also cut from
// encoded lines.
func jsonEscaped(f string) string {
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{})
	buf, err := enc.EncodeEntry(zapcore.Entry{}, []zapcore.Field{{Key: "k", Type: zapcore.StringType, String: f}})
	if err != nil {
		return f
	}
	defer buf.Free()
	b := bytes.TrimSpace(buf.Bytes())
	b, ok := bytes.CutPrefix(b, []byte(`{"k":"`))
	if !ok {
		return f
	}
	b, ok = bytes.CutSuffix(b, []byte(`"}`))
	if !ok {
		return f
	}
	return string(b)
}

// Cut replaces every registered form in s with Redacted. A form that lies
// wholly inside a Redacted marker already in s is left alone (it is the
// marker's text, not the secret); one that straddles a marker is cut
// together with it. So Cut(Cut(s)) == Cut(s), and no registered form
// survives outside a marker.
func (s *Secrets) Cut(in string) string {
	if s == nil {
		return in
	}
	s.mu.RLock()
	fs := s.forms
	s.mu.RUnlock()
	return cut(fs, in)
}

// cutLine is Cut for a whole encoded line: only forms long enough not to
// be the line's own structure.
func (s *Secrets) cutLine(in string) string {
	s.mu.RLock()
	fs := s.lineForms
	s.mu.RUnlock()
	return cut(fs, in)
}

func cut(fs *formSet, in string) string {
	if fs == nil {
		return in
	}
	var b strings.Builder
	done := 0 // in[:done] is decided and written to b
	pos := 0
	for pos < len(in) {
		start, end := fs.find(in, pos)
		if start < 0 {
			break
		}
		lo, hi, inside := markerSpan(in, start, end)
		if inside {
			pos = start + 1
			continue
		}
		if lo < done {
			lo = done
		}
		b.WriteString(in[done:lo])
		b.WriteString(Redacted)
		done, pos = hi, hi
	}
	if done == 0 && b.Len() == 0 {
		return in
	}
	b.WriteString(in[done:])
	return b.String()
}

// markerSpan widens [start, end) to cover any Redacted marker it overlaps,
// and reports whether it lies wholly inside one.
func markerSpan(s string, start, end int) (lo, hi int, inside bool) {
	lo, hi = start, end
	// Markers that could overlap begin within len(Redacted) before start.
	from := max(0, start-len(Redacted)+1)
	for i := from; i < end; {
		j := strings.Index(s[i:], Redacted)
		if j < 0 || i+j >= end {
			break
		}
		ms, me := i+j, i+j+len(Redacted)
		if ms <= start && end <= me {
			return ms, me, true
		}
		lo, hi = min(lo, ms), max(hi, me)
		i = ms + 1
	}
	return lo, hi, false
}

// cutSyncer cuts registered secrets from each encoded line (zap writes a
// whole line per Write).
type cutSyncer struct {
	zapcore.WriteSyncer
	secrets *Secrets
}

func (c cutSyncer) Write(p []byte) (int, error) {
	out := c.secrets.cutLine(string(p))
	if len(out) == len(p) && out == string(p) {
		return c.WriteSyncer.Write(p)
	}
	if _, err := c.WriteSyncer.Write([]byte(out)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WrapSyncer returns ws with every registered secret cut from what is
// written to it.
func (s *Secrets) WrapSyncer(ws zapcore.WriteSyncer) zapcore.WriteSyncer {
	if s == nil {
		return ws
	}
	return cutSyncer{WriteSyncer: ws, secrets: s}
}
