package config

import (
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The accepted-value texts below never contain the value itself, so the
// same text is safe for Secret settings.
const (
	acceptInt      = "must be a whole number, for example 10"
	acceptPort     = "must be a whole number from 1 to 65535"
	acceptBool     = "must be true or false (1, 0, t, f, TRUE, FALSE, True and False are accepted too)"
	acceptDuration = "must be a duration such as 500ms, 30s, 5m or 1h30m"
	acceptURL      = "must be an absolute URL with scheme and host, for example http://localhost:3500"
	acceptHostPort = "must be host:port with a port from 1 to 65535, for example localhost:50001 or :8080"
)

// String registers a free-form text setting; empty is allowed unless Required.
func (l *Loader) String(dst *string, name, def, usage string, opts ...Option) {
	l.register(&setting{
		name: name, usage: usage, typ: "string", def: def, emptyOK: true,
		parse: func(raw string) string { *dst = raw; return "" },
		clear: func() { *dst = "" },
		show:  func() string { return *dst },
	}, opts)
}

// Int registers a whole-number setting (negative numbers allowed).
func (l *Loader) Int(dst *int, name string, def int, usage string, opts ...Option) {
	l.register(&setting{
		name: name, usage: usage, typ: "int", def: strconv.Itoa(def),
		parse: func(raw string) string {
			n, err := strconv.Atoi(raw)
			if err != nil {
				return acceptInt
			}
			*dst = n
			return ""
		},
		show: func() string { return strconv.Itoa(*dst) },
	}, opts)
}

// Float registers a decimal number setting.
func (l *Loader) Float(dst *float64, name string, def float64, usage string, opts ...Option) {
	l.register(&setting{
		name: name, usage: usage, typ: "number", def: strconv.FormatFloat(def, 'g', -1, 64),
		parse: func(raw string) string {
			f, err := strconv.ParseFloat(raw, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return "must be a number, for example 0.2"
			}
			*dst = f
			return ""
		},
		show: func() string { return strconv.FormatFloat(*dst, 'g', -1, 64) },
	}, opts)
}

// Port registers a TCP port number, 1 to 65535.
func (l *Loader) Port(dst *int, name string, def int, usage string, opts ...Option) {
	l.register(&setting{
		name: name, usage: usage, typ: "port", def: strconv.Itoa(def),
		parse: func(raw string) string {
			n, ok := parsePort(raw)
			if !ok {
				return acceptPort
			}
			*dst = n
			return ""
		},
		show: func() string { return strconv.Itoa(*dst) },
	}, opts)
}

func parsePort(raw string) (int, bool) {
	n, err := strconv.Atoi(raw)
	return n, err == nil && n >= 1 && n <= 65535
}

// Bool registers a switch; it accepts strconv.ParseBool's forms, and a bare
// --flag means true.
func (l *Loader) Bool(dst *bool, name string, def bool, usage string, opts ...Option) {
	l.register(&setting{
		name: name, usage: usage, typ: "bool", def: strconv.FormatBool(def), isBool: true,
		parse: func(raw string) string {
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return acceptBool
			}
			*dst = b
			return ""
		},
		show: func() string { return strconv.FormatBool(*dst) },
	}, opts)
}

// Duration registers a time.ParseDuration value that must be greater than
// zero, because a zero timeout or interval is almost always a mistake; pass
// AllowZero where 0 has a meaning (such as "no timeout").
func (l *Loader) Duration(dst *time.Duration, name string, def time.Duration, usage string, opts ...Option) {
	s := &setting{name: name, usage: usage, typ: "duration", def: def.String()}
	s.parse = func(raw string) string {
		d, err := time.ParseDuration(raw)
		switch {
		case err != nil:
			return acceptDuration
		case d < 0:
			return "must not be negative; " + acceptDuration
		case d == 0 && !s.allowZero:
			return "must be greater than zero; " + acceptDuration
		}
		*dst = d
		return ""
	}
	s.show = func() string { return dst.String() }
	l.register(s, opts)
}

// Enum registers a setting that must be exactly one of allowed (case
// matters). Empty is an error unless "" is in allowed, so the default must be
// one of the allowed values too.
func (l *Loader) Enum(dst *string, name, def string, allowed []string, usage string, opts ...Option) {
	accept := "must be one of: " + strings.Join(allowed, ", ")
	allowed = slices.Clone(allowed)
	l.register(&setting{
		name: name, usage: usage, typ: "string", def: def, extra: "one of: " + strings.Join(allowed, ", "),
		parse: func(raw string) string {
			if !slices.Contains(allowed, raw) {
				return accept
			}
			*dst = raw
			return ""
		},
		show: func() string { return *dst },
	}, opts)
}

// URL registers an absolute URL (scheme and host); empty leaves *dst nil
// unless Required.
func (l *Loader) URL(dst **url.URL, name, def, usage string, opts ...Option) {
	l.register(&setting{
		name: name, usage: usage, typ: "url", def: def, emptyOK: true,
		parse: func(raw string) string {
			u, err := url.Parse(raw)
			if err != nil || u.Scheme == "" || u.Host == "" {
				return acceptURL
			}
			*dst = u
			return ""
		},
		clear: func() { *dst = nil },
		show: func() string {
			if *dst == nil {
				return ""
			}
			// Redacted so a password in the URL never reaches the startup log.
			return (*dst).Redacted()
		},
	}, opts)
}

// HostPort registers a "host:port" address as accepted by net.SplitHostPort,
// with a numeric port from 1 to 65535; the host may be empty (":8080", all
// interfaces). Empty is allowed unless Required.
func (l *Loader) HostPort(dst *string, name, def, usage string, opts ...Option) {
	l.register(&setting{
		name: name, usage: usage, typ: "host:port", def: def, emptyOK: true,
		parse: func(raw string) string {
			_, port, err := net.SplitHostPort(raw)
			if err != nil {
				return acceptHostPort
			}
			if _, ok := parsePort(port); !ok {
				return acceptHostPort
			}
			*dst = raw
			return ""
		},
		clear: func() { *dst = "" },
		show:  func() string { return *dst },
	}, opts)
}
