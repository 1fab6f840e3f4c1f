package secret

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const canary = "s3cr3t-Canary-7a1"

type holder struct {
	Name string
	Pass Value
	Ptr  *Value
}

// TestNoPathPrintsTheValue formats, logs and marshals a secret, alone and
// inside a struct, every way the standard library and zap offer.
func TestNoPathPrintsTheValue(t *testing.T) {
	v := New(canary)
	h := holder{Name: "n", Pass: v, Ptr: &v}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10s", "%-8v"} {
		outs = append(outs, fmt.Sprintf(verb, v), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(v, h), fmt.Sprintln(h), errors.New(fmt.Sprint(v)).Error(), fmt.Errorf("wrap: %w %v", errors.New("x"), v).Error())
	for _, m := range []func(any) ([]byte, error){json.Marshal, xml.Marshal} {
		b, _ := m(h)
		outs = append(outs, string(b))
	}
	var g bytes.Buffer
	if err := gob.NewEncoder(&g).Encode(h); err == nil {
		outs = append(outs, g.String())
	}
	var logs bytes.Buffer
	sl := slog.New(slog.NewJSONHandler(&logs, nil))
	sl.Info("x", "v", v, "h", h)
	sl2 := slog.New(slog.NewTextHandler(&logs, nil))
	sl2.Info("x", "v", v, "h", h)
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel)
	zl := zap.New(core)
	zl.Info("x", zap.Any("v", v), zap.Any("h", h), zap.Stringer("s", v), zap.Reflect("r", h), zap.Object("o", v))
	outs = append(outs, logs.String())
	for _, o := range outs {
		if strings.Contains(o, canary) {
			t.Fatalf("the secret leaked: %s", o)
		}
	}
	if v.Reveal() != canary || v.IsZero() || !v.Equal(New(canary)) || !New("").IsZero() {
		t.Fatal("Reveal/IsZero/Equal")
	}
}
