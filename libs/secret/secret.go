// Package secret holds secret values in a type that cannot be printed,
// logged or marshalled by accident: every formatting path writes
// "[REDACTED]", and only Reveal returns the value, at the one place that
// hands it to a driver or an HTTP client.
package secret

import (
	"fmt"
	"log/slog"

	"go.uber.org/zap/zapcore"
)

// Redacted is what every formatting path writes.
const Redacted = "[REDACTED]"

// Value is a secret. The zero Value is empty.
type Value struct {
	v string
}

// New wraps a secret read from a store.
func New(s string) Value { return Value{v: s} }

// Reveal returns the secret. Call it only where the value leaves the
// process for the system it is meant for.
func (s Value) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Value) IsZero() bool { return s.v == "" }

// Equal compares two secrets.
func (s Value) Equal(o Value) bool { return s.v == o.v }

func (Value) String() string   { return Redacted }
func (Value) GoString() string { return Redacted }

// Format covers every verb: %v, %+v, %#v, %s, %q, %x, %d...
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (Value) MarshalYAML() (any, error)    { return Redacted, nil }
func (Value) MarshalBinary() ([]byte, error) {
	return nil, fmt.Errorf("a secret value cannot be marshalled")
}
func (Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalLogObject makes zap.Object and zap.Any write nothing but the
// marker.
func (Value) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("secret", Redacted)
	return nil
}

// GobEncode refuses: a secret is never serialised.
func (Value) GobEncode() ([]byte, error) {
	return nil, fmt.Errorf("a secret value cannot be gob-encoded")
}
