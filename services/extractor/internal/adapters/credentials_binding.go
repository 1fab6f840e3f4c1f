package adapters

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// AllowedHostsField names a source secret's host binding: the addresses
// its password may be sent to. It is declared beside the secret, by whoever
// writes the secret, never by a job:
//
//   - stores whose secrets have fields (Vault KV, Kubernetes, the local
//     file store with multiValued): a field allowed_hosts of the same
//     secret, e.g. {password: …, allowed_hosts: "db1.internal:5432"};
//   - single-valued stores (the local file store as the stack runs it,
//     nestedSeparator ":"): the key bindingKey(key) — "sales-db:allowed_hosts"
//     beside "sales-db:password" (in secrets.json an object
//     {"sales-db": {"password": …, "allowed_hosts": …}}), or
//     "demo-source-password:allowed_hosts" beside a top-level
//     "demo-source-password".
//
// The value is a list of host:port ([v6addr]:port) or unix:/socket/path,
// separated by commas or spaces. Host names match case-insensitively and
// only as written: 127.0.0.1 does not match localhost.
const AllowedHostsField = "allowed_hosts"

// bindingKey is where a single-valued store keeps the binding of key: its
// parent object's allowed_hosts, or key:allowed_hosts at the top level.
func bindingKey(key string) string {
	if i := strings.LastIndex(key, ":"); i > 0 {
		return key[:i+1] + AllowedHostsField
	}
	return key + ":" + AllowedHostsField
}

// hostBinding is a secret's parsed allowed_hosts.
type hostBinding struct {
	ref   SecretRef
	where string   // where it was declared, for messages
	keys  []string // normalised targets (connector.Target.Key)
	shown []string // as written
}

// binding finds the secret's binding: the field beside the password, else
// the sibling key. A secret without one is refused, naming how to add it.
func (c *SecretCredentials) binding(ctx context.Context, data map[string]string, to []connector.Target) (hostBinding, error) {
	if raw, ok := data[AllowedHostsField]; ok && c.ref.Field != AllowedHostsField {
		return parseBinding(c.ref, raw, fmt.Sprintf("field %s of secret %q", AllowedHostsField, c.ref.Key))
	}
	key := bindingKey(c.ref.Key)
	sib, err := c.getter.GetSecret(ctx, c.ref.Store, key, nil)
	if errors.Is(err, audit.ErrUnavailable) {
		return hostBinding{}, err
	}
	if err != nil && isNotFound(err.Error()) {
		return hostBinding{}, errkind.New(errkind.Unauthorized, fmt.Sprintf("secret %q in store %q is not bound to any host, "+
			"so it is not sent to %s (nothing was sent): %s", c.ref.Key, c.ref.Store, targetList(to), c.howToBind(to)))
	}
	if err != nil {
		return hostBinding{}, errkind.Wrap(daprclient.SecretErrorKind(err), err, fmt.Sprintf("read the host binding %q of secret %q from secret store %q "+
			"(the extractor's secret scopes must allow it like the secret itself)", key, c.ref.Key, c.ref.Store))
	}
	raw, ok := sib[key]
	if !ok {
		return hostBinding{}, errkind.New(errkind.Invalid, fmt.Sprintf("host binding %q of secret %q in store %q has no value %q; "+
			"its fields are: %s", key, c.ref.Key, c.ref.Store, key, strings.Join(fieldNames(sib), ", ")))
	}
	return parseBinding(c.ref, raw, fmt.Sprintf("key %q", key))
}

// howToBind says how to bind the secret to the targets.
func (c *SecretCredentials) howToBind(to []connector.Target) string {
	return fmt.Sprintf("bind it to the hosts it may be sent to — a field %s in the secret (Vault, Kubernetes and other stores "+
		"whose secrets have fields) or the key %q (single-valued stores such as the local file store, data/secrets.json) — "+
		"holding host:port entries separated by commas, e.g. %q", AllowedHostsField, bindingKey(c.ref.Key), targetList(to))
}

func parseBinding(ref SecretRef, raw, where string) (hostBinding, error) {
	b := hostBinding{ref: ref, where: where}
	var bad []string
	for _, e := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		t, err := parseEntry(e)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q (%v)", e, err))
			continue
		}
		k, _ := t.Key()
		b.keys = append(b.keys, k)
		b.shown = append(b.shown, e)
	}
	switch {
	case len(bad) > 0:
		return b, errkind.New(errkind.Invalid, fmt.Sprintf("host binding (%s) of secret %q in store %q has invalid entries: %s; "+
			"write host:port, [ipv6]:port or unix:/socket/path, separated by commas", where, ref.Key, ref.Store, strings.Join(bad, ", ")))
	case len(b.keys) == 0:
		return b, errkind.New(errkind.Unauthorized, fmt.Sprintf("host binding (%s) of secret %q in store %q is empty, "+
			"so the secret is sent nowhere; list the host:port entries it may be sent to", where, ref.Key, ref.Store))
	}
	return b, nil
}

func parseEntry(e string) (connector.Target, error) {
	if path, ok := strings.CutPrefix(e, "unix:"); ok {
		if !filepath.IsAbs(path) {
			return connector.Target{}, errors.New("a socket path must be absolute")
		}
		return connector.UnixTarget(path), nil
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil || host == "" {
		return connector.Target{}, errors.New("not host:port")
	}
	if strings.ContainsAny(host, "*?") {
		return connector.Target{}, errors.New("wildcards are not supported: list each host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return connector.Target{}, errors.New("the port is not a number from 1 to 65535")
	}
	return connector.TCPTarget(e), nil
}

// permit refuses unless every target is in the binding.
func (b hostBinding) permit(to []connector.Target) error {
	var outside []string
	for _, t := range to {
		k, err := t.Key()
		if err != nil || !slices.Contains(b.keys, k) {
			outside = append(outside, t.String())
		}
	}
	if len(outside) == 0 {
		return nil
	}
	return errkind.New(errkind.Unauthorized, fmt.Sprintf("secret %q in store %q may only be sent to %s (its %s), "+
		"but this source would send it to %s, so nothing was sent: point the source's DSN at a bound host, "+
		"or, if %s should have this secret, add it to the binding", b.ref.Key, b.ref.Store, strings.Join(b.shown, ", "), b.where,
		strings.Join(outside, ", "), strings.Join(outside, ", ")))
}

func targetList(to []connector.Target) string {
	out := make([]string, len(to))
	for i, t := range to {
		out[i] = t.String()
	}
	return strings.Join(out, ",")
}
