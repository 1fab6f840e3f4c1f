package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type textStringer string

func (s textStringer) String() string { return string(s) }

// logWithSecret logs one line carrying text in every kind of place — the
// message, a string, an error, a stringer, a reflected map (key and value),
// an object, an array, a With field attached before the secret was
// registered, and a number — and returns the encoded output.
func logWithSecret(t testing.TB, secret, text string, n int64) string {
	t.Helper()
	var buf bytes.Buffer
	reg := NewSecrets()
	log, err := New(Options{Service: "svc", Output: zapcore.AddSync(&buf), Secrets: reg})
	if err != nil {
		t.Fatal(err)
	}
	early := log.With(zap.String("early", text))
	reg.Register(secret)
	early.Info("msg "+text,
		zap.String("s", text),
		zap.Error(errors.New("wrapped: "+text)),
		zap.Stringer("st", textStringer(text)),
		zap.Any("m", map[string]any{text: text, "nested": []any{text}}),
		zap.Strings("arr", []string{text, "x"}),
		zap.Int64("n", n),
		zap.ByteString("b", []byte(text)),
		zap.Namespace("ns"+text),
		zap.String("inner", text),
	)
	return buf.String()
}

// decodedValues returns every string in the line's JSON (keys and values),
// numbers as their decimal text.
func decodedValues(t testing.TB, line string) []string {
	var m any
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	// The logger's own fields are not user text: a short secret may
	// match a timestamp or the caller by chance.
	if top, ok := m.(map[string]any); ok {
		for _, k := range []string{"ts", "caller", "level", "service"} {
			delete(top, k)
		}
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				out = append(out, k)
				walk(vv)
			}
		case []any:
			for _, vv := range x {
				walk(vv)
			}
		case string:
			out = append(out, x)
		case json.Number:
			out = append(out, x.String())
		}
	}
	walk(m)
	return out
}

func TestRegisteredSecretIsCutEverywhere(t *testing.T) {
	const secret = `pa"ss\word-123`
	for _, form := range SecretForms(secret) {
		out := logWithSecret(t, secret, "before "+form+" after", 0)
		for _, v := range decodedValues(t, out) {
			if strings.Contains(v, secret) || strings.Contains(v, form) {
				t.Fatalf("form %q survived in %q\nline: %s", form, v, out)
			}
		}
	}
	// A number that is the secret.
	out := logWithSecret(t, "90210731", "x", 90210731)
	if strings.Contains(out, "90210731") {
		t.Fatalf("numeric secret survived: %s", out)
	}
}

func TestCutIsIdempotentAroundMarkers(t *testing.T) {
	s := NewSecrets()
	s.Register("ED]x")
	s.Register("hunter2")
	for in, want := range map[string]string{
		"a hunter2 b":      "a " + Redacted + " b",
		"[REDACTED]x":      Redacted, // the secret straddles a marker: cut with it
		"[REDACTED]":       Redacted,
		"hunter2hunter2":   Redacted + Redacted,
		"no secret here":   "no secret here",
		"aHVudGVyMg== b64": Redacted + " b64",
	} {
		got := s.Cut(in)
		if got != want {
			t.Errorf("Cut(%q) = %q, want %q", in, got, want)
		}
		if again := s.Cut(got); again != got {
			t.Errorf("Cut not idempotent on %q: %q then %q", in, got, again)
		}
	}
}

// FuzzRegisteredSecretNeverLogged: a registered secret (at least four
// bytes, not part of the marker itself) never survives in any field,
// message or error of a logged line, and redaction is idempotent.
func FuzzRegisteredSecretNeverLogged(f *testing.F) {
	f.Add("hunter22", "login failed for hunter22", int64(0))
	f.Add(`pa"ss\word`, `{"password":"pa\"ss\\word"}`, int64(1))
	f.Add("12345678", "n", int64(12345678))
	f.Add("c2VjcmV0", "secret c2VjcmV0", int64(0))
	f.Add("ED]xyz", "[REDACTED]xyz", int64(0))
	f.Fuzz(func(t *testing.T, secret, text string, n int64) {
		if len(secret) < 4 || strings.Contains(Redacted, secret) || strings.Contains(secret, "\x00") {
			t.Skip()
		}
		text = text + " " + secret + " " + strings.ToUpper(fmt.Sprintf("%x", secret))
		out := logWithSecret(t, secret, text, n)
		for _, v := range decodedValues(t, out) {
			if strings.Contains(v, secret) && !strings.Contains(fieldNames, v) {
				t.Fatalf("secret %q survived in %q\nline: %s", secret, v, out)
			}
		}
		s := NewSecrets()
		s.Register(secret)
		once := s.Cut(RedactString(text))
		if twice := s.Cut(RedactString(once)); twice != once {
			t.Fatalf("redaction not idempotent:\nonce  %q\ntwice %q", once, twice)
		}
	})
}

// fieldNames are the test's own keys, which a short secret may match.
const fieldNames = "msg early s error st m nested arr n b inner"

func TestLineCutKeepsTheLineJSON(t *testing.T) {
	for _, tc := range []struct{ secret, text string }{
		// The line's escape \u001f followed by ABCD spells the secret:
		// the cut must take the whole escape, not leave "\u".
		{"001fABCD", "\x1fABCD"},
		{"0000001f", "\x00\x1f"},
		{"ABCD\\u00", "ABCD\x00"},
		// A multi-byte rune split by the secret's end.
		{"abcdefg\xc3", "abcdefgé"},
	} {
		out := logWithSecret(t, tc.secret, tc.text, 0)
		for _, v := range decodedValues(t, out) {
			if strings.Contains(v, tc.secret) {
				t.Fatalf("secret %q survived in %q\nline: %s", tc.secret, v, out)
			}
		}
	}
	// A number that is the secret becomes a string marker, so the line
	// stays JSON.
	out := logWithSecret(t, "90210731", "x", 90210731)
	for _, v := range decodedValues(t, out) {
		if strings.Contains(v, "90210731") {
			t.Fatalf("numeric secret survived: %s", out)
		}
	}
}
