package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// NewRedactingCore wraps a core so that nothing it writes carries a secret:
// fields whose key IsSecretKey are replaced by Redacted whatever their type;
// messages, string, []byte, Stringer and error values go through
// RedactString; values passed with zap.Any (maps, slices, structs) and
// zapcore.ObjectMarshaler/ArrayMarshaler values are walked and their secret
// keys masked; a namespace with a secret name masks everything logged inside
// it. Fields attached with With are redacted once, when attached.
//
// The wrapper decides enablement with Enabled, so it bypasses any sampling
// done in the wrapped core's Check; put a sampler outside this core, not
// inside it.
func NewRedactingCore(c zapcore.Core) zapcore.Core {
	return NewSecretsCore(c, nil)
}

// NewSecretsCore is NewRedactingCore that also cuts every value registered
// in secrets (Secrets.Cut) from the message, the stack and every field,
// whatever its type: a field whose encoding holds a registered value is
// replaced by its encoding with the value cut.
func NewSecretsCore(c zapcore.Core, secrets *Secrets) zapcore.Core {
	if rc, ok := c.(*redactingCore); ok {
		if secrets == nil || rc.secrets == secrets {
			return rc
		}
		c = rc.Core
	}
	return &redactingCore{Core: c, secrets: secrets}
}

type redactingCore struct {
	zapcore.Core
	// secretNS is set once a With field opened a namespace with a secret
	// name: every field added later lands inside it and must be masked.
	secretNS bool
	secrets  *Secrets
	// with holds the With fields (redacted) while secrets is set: they are
	// written with each line, so a secret registered after With was called
	// is still cut from them.
	with []zapcore.Field
}

func (c *redactingCore) Level() zapcore.Level { return zapcore.LevelOf(c.Core) }

func (c *redactingCore) With(fields []zapcore.Field) zapcore.Core {
	red, ns := redactFields(fields, c.secretNS)
	if c.secrets != nil {
		return &redactingCore{Core: c.Core, secretNS: ns, secrets: c.secrets, with: append(c.with[:len(c.with):len(c.with)], red...)}
	}
	return &redactingCore{Core: c.Core.With(red), secretNS: ns}
}

// Check registers this wrapper, not the inner core: delegating to the inner
// Check would make the logger call the inner Write directly and skip
// redaction.
func (c *redactingCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *redactingCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ent.Message = RedactString(ent.Message)
	red, _ := redactFields(fields, c.secretNS)
	if len(c.with) > 0 {
		red = append(append(make([]zapcore.Field, 0, len(c.with)+len(red)), c.with...), red...)
	}
	if c.secrets.Len() > 0 {
		ent.Message = c.secrets.Cut(ent.Message)
		ent.Stack = c.secrets.Cut(ent.Stack)
		red = c.cutFields(red)
	}
	return c.Core.Write(ent, red)
}

// cutFields replaces each field whose JSON encoding holds a registered
// secret (in its key or value, of any type) by a string field holding that
// encoding with the secret cut.
func (c *redactingCore) cutFields(fields []zapcore.Field) []zapcore.Field {
	if c.secrets.Len() == 0 {
		return fields
	}
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{})
	fields = append([]zapcore.Field(nil), fields...) // c.with is shared by lines
	for i, f := range fields {
		if f.Type == zapcore.SkipType {
			continue
		}
		if f.Type == zapcore.NamespaceType {
			fields[i].Key = c.secrets.Cut(f.Key)
			continue
		}
		key := c.secrets.Cut(f.Key)
		g := f
		g.Key = ""
		buf, err := enc.EncodeEntry(zapcore.Entry{}, []zapcore.Field{g})
		if err != nil {
			continue // zap reports the encoding error, not the value
		}
		// {"":value}: the value's encoding alone.
		val := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(buf.String(), `{"":`), "\n"), "}")
		buf.Free()
		cut := c.secrets.CutJSON(val)
		if cut == val && key == f.Key {
			continue
		}
		var str string
		if json.Unmarshal([]byte(cut), &str) == nil {
			cut = str // a string stays a string, with the secret cut
		}
		fields[i] = zapcore.Field{Key: key, Type: zapcore.StringType, String: cut}
	}
	return fields
}

// redactFields returns redacted copies (the caller's slice may be reused by
// zap) and whether a secret namespace is open at the end.
func redactFields(fields []zapcore.Field, secretNS bool) ([]zapcore.Field, bool) {
	out := make([]zapcore.Field, len(fields))
	for i, f := range fields {
		if f.Type == zapcore.NamespaceType {
			out[i] = f
			if IsSecretKey(f.Key) {
				secretNS = true
			}
			continue
		}
		out[i] = redactField(f, secretNS)
	}
	return out, secretNS
}

func redactField(f zapcore.Field, all bool) zapcore.Field {
	switch f.Type {
	case zapcore.SkipType:
		return f
	case zapcore.InlineMarshalerType:
		// Inline fields have no key of their own; their keys are checked
		// one by one by the wrapping encoder.
		if m, ok := f.Interface.(zapcore.ObjectMarshaler); ok {
			f.Interface = redactingObject{m: m, all: all}
		}
		return f
	}
	if all || IsSecretKey(f.Key) {
		return zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: Redacted}
	}
	switch f.Type {
	case zapcore.StringType:
		f.String = RedactString(f.String)
	case zapcore.ByteStringType:
		if b, ok := f.Interface.([]byte); ok {
			f.Interface = []byte(RedactString(string(b)))
		}
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok {
			// Replacing the error also drops errorVerbose/errorCauses, which
			// would otherwise print the unredacted chain.
			f.Interface = redactedError{msg: RedactString(safeString(err.Error))}
		}
	case zapcore.StringerType:
		if s, ok := f.Interface.(fmt.Stringer); ok {
			return zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: RedactString(safeString(s.String))}
		}
	case zapcore.ReflectType:
		f.Interface = redactValue(f.Interface, 0)
	case zapcore.ObjectMarshalerType:
		if m, ok := f.Interface.(zapcore.ObjectMarshaler); ok {
			f.Interface = redactingObject{m: m}
		}
	case zapcore.ArrayMarshalerType:
		if m, ok := f.Interface.(zapcore.ArrayMarshaler); ok {
			f.Interface = redactingArray{m: m}
		}
	}
	return f
}

type redactedError struct{ msg string }

func (e redactedError) Error() string { return e.msg }

// safeString calls a String/Error method that may panic on a nil receiver,
// as zap itself guards against.
func safeString(fn func() string) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprintf("<PANIC=%v>", r)
		}
	}()
	return fn()
}

// maxDepth bounds the walk so a self-referencing map cannot hang the logger.
const maxDepth = 32

// redactValue returns a copy of v with secret keys masked and strings passed
// through RedactString. Common map/slice shapes are walked directly so their
// types survive; anything else with structure (structs, typed maps, pointers)
// is round-tripped through JSON, which is what zap's reflect encoder would
// produce anyway, so struct fields named Password are caught too.
func redactValue(v any, depth int) any {
	if depth > maxDepth {
		return Redacted
	}
	switch t := v.(type) {
	case nil, bool, json.Number,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr,
		float32, float64, complex64, complex128, time.Time, time.Duration:
		return v
	case string:
		return RedactString(t)
	case []byte:
		return []byte(RedactString(string(t)))
	case error:
		return RedactString(safeString(t.Error))
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, vv := range t {
			if IsSecretKey(k) {
				out[k] = Redacted
			} else {
				out[k] = redactValue(vv, depth+1)
			}
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(t))
		for k, vv := range t {
			if IsSecretKey(k) {
				out[k] = Redacted
			} else {
				out[k] = RedactString(vv)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, vv := range t {
			out[i] = redactValue(vv, depth+1)
		}
		return out
	case []string:
		out := make([]string, len(t))
		for i, vv := range t {
			out[i] = RedactString(vv)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return RedactString(rv.String())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return v
	}
	raw, err := json.Marshal(v)
	if err != nil {
		// Unencodable for zap too; it will report the encoding error rather
		// than the value, so nothing leaks by passing it on.
		return v
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return Redacted
	}
	return redactValue(generic, depth+1)
}

// redactingObject wraps an ObjectMarshaler so the keys it emits are checked.
type redactingObject struct {
	m   zapcore.ObjectMarshaler
	all bool
}

func (o redactingObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	return o.m.MarshalLogObject(&redactingObjectEncoder{enc: enc, all: o.all})
}

type redactingArray struct{ m zapcore.ArrayMarshaler }

func (a redactingArray) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	return a.m.MarshalLogArray(redactingArrayEncoder{enc: enc})
}

// redactingObjectEncoder masks secret keys as a marshaler writes them.
type redactingObjectEncoder struct {
	enc zapcore.ObjectEncoder
	all bool // inside a namespace with a secret name
}

func (e *redactingObjectEncoder) secret(key string) bool {
	if e.all || IsSecretKey(key) {
		e.enc.AddString(key, Redacted)
		return true
	}
	return false
}

func (e *redactingObjectEncoder) AddArray(key string, m zapcore.ArrayMarshaler) error {
	if e.secret(key) {
		return nil
	}
	return e.enc.AddArray(key, redactingArray{m: m})
}

func (e *redactingObjectEncoder) AddObject(key string, m zapcore.ObjectMarshaler) error {
	if e.secret(key) {
		return nil
	}
	return e.enc.AddObject(key, redactingObject{m: m})
}

func (e *redactingObjectEncoder) AddBinary(key string, v []byte) {
	if !e.secret(key) {
		e.enc.AddBinary(key, v)
	}
}

func (e *redactingObjectEncoder) AddByteString(key string, v []byte) {
	if !e.secret(key) {
		e.enc.AddByteString(key, []byte(RedactString(string(v))))
	}
}

func (e *redactingObjectEncoder) AddBool(key string, v bool) {
	if !e.secret(key) {
		e.enc.AddBool(key, v)
	}
}

func (e *redactingObjectEncoder) AddComplex128(key string, v complex128) {
	if !e.secret(key) {
		e.enc.AddComplex128(key, v)
	}
}

func (e *redactingObjectEncoder) AddComplex64(key string, v complex64) {
	if !e.secret(key) {
		e.enc.AddComplex64(key, v)
	}
}

func (e *redactingObjectEncoder) AddDuration(key string, v time.Duration) {
	if !e.secret(key) {
		e.enc.AddDuration(key, v)
	}
}

func (e *redactingObjectEncoder) AddFloat64(key string, v float64) {
	if !e.secret(key) {
		e.enc.AddFloat64(key, v)
	}
}

func (e *redactingObjectEncoder) AddFloat32(key string, v float32) {
	if !e.secret(key) {
		e.enc.AddFloat32(key, v)
	}
}

func (e *redactingObjectEncoder) AddInt(key string, v int) {
	if !e.secret(key) {
		e.enc.AddInt(key, v)
	}
}

func (e *redactingObjectEncoder) AddInt64(key string, v int64) {
	if !e.secret(key) {
		e.enc.AddInt64(key, v)
	}
}

func (e *redactingObjectEncoder) AddInt32(key string, v int32) {
	if !e.secret(key) {
		e.enc.AddInt32(key, v)
	}
}

func (e *redactingObjectEncoder) AddInt16(key string, v int16) {
	if !e.secret(key) {
		e.enc.AddInt16(key, v)
	}
}

func (e *redactingObjectEncoder) AddInt8(key string, v int8) {
	if !e.secret(key) {
		e.enc.AddInt8(key, v)
	}
}

func (e *redactingObjectEncoder) AddString(key, v string) {
	if !e.secret(key) {
		e.enc.AddString(key, RedactString(v))
	}
}

func (e *redactingObjectEncoder) AddTime(key string, v time.Time) {
	if !e.secret(key) {
		e.enc.AddTime(key, v)
	}
}

func (e *redactingObjectEncoder) AddUint(key string, v uint) {
	if !e.secret(key) {
		e.enc.AddUint(key, v)
	}
}

func (e *redactingObjectEncoder) AddUint64(key string, v uint64) {
	if !e.secret(key) {
		e.enc.AddUint64(key, v)
	}
}

func (e *redactingObjectEncoder) AddUint32(key string, v uint32) {
	if !e.secret(key) {
		e.enc.AddUint32(key, v)
	}
}

func (e *redactingObjectEncoder) AddUint16(key string, v uint16) {
	if !e.secret(key) {
		e.enc.AddUint16(key, v)
	}
}

func (e *redactingObjectEncoder) AddUint8(key string, v uint8) {
	if !e.secret(key) {
		e.enc.AddUint8(key, v)
	}
}

func (e *redactingObjectEncoder) AddUintptr(key string, v uintptr) {
	if !e.secret(key) {
		e.enc.AddUintptr(key, v)
	}
}

func (e *redactingObjectEncoder) AddReflected(key string, v any) error {
	if e.secret(key) {
		return nil
	}
	return e.enc.AddReflected(key, redactValue(v, 0))
}

func (e *redactingObjectEncoder) OpenNamespace(key string) {
	e.enc.OpenNamespace(key)
	if IsSecretKey(key) {
		e.all = true
	}
}

// redactingArrayEncoder passes array elements through the same rules; array
// elements have no keys, so only their content is inspected.
type redactingArrayEncoder struct{ enc zapcore.ArrayEncoder }

func (a redactingArrayEncoder) AppendString(v string) { a.enc.AppendString(RedactString(v)) }
func (a redactingArrayEncoder) AppendByteString(v []byte) {
	a.enc.AppendByteString([]byte(RedactString(string(v))))
}
func (a redactingArrayEncoder) AppendArray(m zapcore.ArrayMarshaler) error {
	return a.enc.AppendArray(redactingArray{m: m})
}
func (a redactingArrayEncoder) AppendObject(m zapcore.ObjectMarshaler) error {
	return a.enc.AppendObject(redactingObject{m: m})
}
func (a redactingArrayEncoder) AppendReflected(v any) error {
	return a.enc.AppendReflected(redactValue(v, 0))
}
func (a redactingArrayEncoder) AppendDuration(v time.Duration) { a.enc.AppendDuration(v) }
func (a redactingArrayEncoder) AppendTime(v time.Time)         { a.enc.AppendTime(v) }
func (a redactingArrayEncoder) AppendBool(v bool)              { a.enc.AppendBool(v) }
func (a redactingArrayEncoder) AppendComplex128(v complex128)  { a.enc.AppendComplex128(v) }
func (a redactingArrayEncoder) AppendComplex64(v complex64)    { a.enc.AppendComplex64(v) }
func (a redactingArrayEncoder) AppendFloat64(v float64)        { a.enc.AppendFloat64(v) }
func (a redactingArrayEncoder) AppendFloat32(v float32)        { a.enc.AppendFloat32(v) }
func (a redactingArrayEncoder) AppendInt(v int)                { a.enc.AppendInt(v) }
func (a redactingArrayEncoder) AppendInt64(v int64)            { a.enc.AppendInt64(v) }
func (a redactingArrayEncoder) AppendInt32(v int32)            { a.enc.AppendInt32(v) }
func (a redactingArrayEncoder) AppendInt16(v int16)            { a.enc.AppendInt16(v) }
func (a redactingArrayEncoder) AppendInt8(v int8)              { a.enc.AppendInt8(v) }
func (a redactingArrayEncoder) AppendUint(v uint)              { a.enc.AppendUint(v) }
func (a redactingArrayEncoder) AppendUint64(v uint64)          { a.enc.AppendUint64(v) }
func (a redactingArrayEncoder) AppendUint32(v uint32)          { a.enc.AppendUint32(v) }
func (a redactingArrayEncoder) AppendUint16(v uint16)          { a.enc.AppendUint16(v) }
func (a redactingArrayEncoder) AppendUint8(v uint8)            { a.enc.AppendUint8(v) }
func (a redactingArrayEncoder) AppendUintptr(v uintptr)        { a.enc.AppendUintptr(v) }
