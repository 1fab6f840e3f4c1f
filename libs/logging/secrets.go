package logging

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

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
	if strings.HasPrefix(in, "{") {
		return cutJSON(fs, in)
	}
	return cut(fs, in) // a console line, for people
}

// CutJSON is Cut for a JSON text, keeping it JSON (see cutJSON).
func (s *Secrets) CutJSON(in string) string {
	if s == nil {
		return in
	}
	s.mu.RLock()
	fs := s.forms
	s.mu.RUnlock()
	return cutJSON(fs, in)
}

func cut(fs *formSet, in string) string {
	spans := matches(fs, in)
	if len(spans) == 0 {
		return in
	}
	var b strings.Builder
	done := 0 // in[:done] is written to b
	for _, sp := range spans {
		b.WriteString(in[done:sp.lo])
		b.WriteString(Redacted)
		done = sp.hi
	}
	b.WriteString(in[done:])
	return b.String()
}

// span is a stretch of text to replace, and what replaces it.
type span struct {
	lo, hi int
	with   string
}

// matches are the stretches of in holding a registered form, each widened
// over any marker it straddles, in order and not overlapping.
func matches(fs *formSet, in string) []span {
	if fs == nil {
		return nil
	}
	var out []span
	done, pos := 0, 0
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
		out = append(out, span{lo: max(lo, done), hi: hi, with: Redacted})
		done, pos = hi, hi
	}
	return out
}

// cutJSON is Cut for JSON text (a value, or a whole encoded line): the
// result is JSON again. A match inside a string is widened to whole escape
// sequences and runes, so no "\u" is left without its digits; a match
// over a number or literal replaces the whole token with the string
// "[REDACTED]"; the quotes, colons, commas and brackets a match covers
// are kept. No byte of a matched form survives outside a marker.
func cutJSON(fs *formSet, in string) string {
	spans := matches(fs, in)
	if len(spans) == 0 {
		return in
	}
	m := scanJSON(in)
	var parts []span
	for _, sp := range spans {
		for i := sp.lo; i < sp.hi; {
			switch m.kind[i] {
			case jsonString:
				j := i
				for j < sp.hi && m.kind[j] == jsonString {
					j++
				}
				parts = appendSpan(parts, span{lo: m.start[i], hi: m.unitEnd(j - 1), with: Redacted})
				i = parts[len(parts)-1].hi
			case jsonLiteral:
				parts = appendSpan(parts, span{lo: m.start[i], hi: m.unitEnd(i), with: `"` + Redacted + `"`})
				i = parts[len(parts)-1].hi
			default:
				i++
			}
		}
	}
	var b strings.Builder
	done := 0
	for _, p := range parts {
		b.WriteString(in[done:p.lo])
		b.WriteString(p.with)
		done = p.hi
	}
	b.WriteString(in[done:])
	return b.String()
}

// appendSpan adds sp, merging it into the last span when they overlap
// (both then lie in one string or one token, so they replace alike).
func appendSpan(parts []span, sp span) []span {
	if n := len(parts); n > 0 && sp.lo < parts[n-1].hi {
		parts[n-1].hi = max(parts[n-1].hi, sp.hi)
		return parts
	}
	return append(parts, sp)
}

const (
	jsonStructure = iota // quotes, brackets, colons, commas, spaces
	jsonString           // a string's content
	jsonLiteral          // a number, true, false or null
)

// jsonMap says what each byte of a JSON text is, and where the unit it
// belongs to starts: for string content its escape sequence or rune, for a
// literal its token.
type jsonMap struct {
	kind  []byte
	start []int
}

func scanJSON(s string) jsonMap {
	m := jsonMap{kind: make([]byte, len(s)), start: make([]int, len(s))}
	mark := func(lo, hi int, kind byte) {
		for k := lo; k < hi && k < len(s); k++ {
			m.kind[k], m.start[k] = kind, lo
		}
	}
	inString := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case inString && c == '"':
			inString = false
			mark(i, i+1, jsonStructure)
			i++
		case inString:
			n := 1
			switch {
			case c == '\\' && i+1 < len(s) && s[i+1] == 'u':
				n = 6
			case c == '\\':
				n = 2
			case c >= utf8.RuneSelf:
				_, n = utf8.DecodeRuneInString(s[i:])
			}
			n = min(n, len(s)-i)
			mark(i, i+n, jsonString)
			i += n
		case c == '"':
			inString = true
			mark(i, i+1, jsonStructure)
			i++
		case isLiteralByte(c):
			j := i
			for j < len(s) && isLiteralByte(s[j]) {
				j++
			}
			mark(i, j, jsonLiteral)
			i = j
		default:
			mark(i, i+1, jsonStructure)
			i++
		}
	}
	return m
}

// unitEnd is the end of the unit holding byte i.
func (m jsonMap) unitEnd(i int) int {
	j := i + 1
	for j < len(m.kind) && m.kind[j] == m.kind[i] && m.start[j] == m.start[i] {
		j++
	}
	return j
}

func isLiteralByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.'
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
