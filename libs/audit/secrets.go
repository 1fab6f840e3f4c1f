package audit

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/secret"
)

// SecretGetter is the Dapr client's secret read.
type SecretGetter interface {
	GetSecret(ctx context.Context, storeName, key string, meta map[string]string) (map[string]string, error)
}

// DefaultHMACKey is the secret-store key of the installation's audit HMAC
// key (every app may read it).
const DefaultHMACKey = "audit-hmac-key"

// Secrets is a SecretGetter whose every read is recorded — store, key
// name, app, outcome and an HMAC-SHA256 of each value under the audit key,
// never a value — before the value is returned. When the entry cannot be
// recorded the value is dropped and the caller gets an error: a secret is
// not used unaudited. Every value read is registered with the logging
// registry, so no log line can carry it.
type Secrets struct {
	inner    SecretGetter
	rec      Recorder
	app      string
	keyStore string
	keyName  string
	reg      *logging.Secrets

	mu  sync.Mutex
	key secret.Value
}

// NewSecrets wraps inner. The HMAC key is read from keyStore/keyName at
// the first read (and that read is recorded too).
func NewSecrets(inner SecretGetter, rec Recorder, app, keyStore, keyName string, reg *logging.Secrets) *Secrets {
	return &Secrets{inner: inner, rec: rec, app: app, keyStore: keyStore, keyName: keyName, reg: reg}
}

// GetSecret implements SecretGetter.
func (s *Secrets) GetSecret(ctx context.Context, store, key string, meta map[string]string) (map[string]string, error) {
	hkey, err := s.hmacKey(ctx)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, notUsed(key, store, err)
		}
		return nil, err
	}
	data, readErr := s.inner.GetSecret(ctx, store, key, meta)
	for _, v := range data {
		s.reg.Register(v)
	}
	e := Entry{Action: ActionSecretRead, Actor: s.app, App: s.app, Target: store + "/" + key, Outcome: readOutcome(readErr)}
	if readErr == nil {
		e.Details = hmacs(hkey, key, data)
	}
	if err := s.rec.Record(ctx, e); err != nil {
		return nil, notUsed(key, store, err)
	}
	return data, readErr
}

func (s *Secrets) hmacKey(ctx context.Context) (secret.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.key.IsZero() {
		return s.key, nil
	}
	data, err := s.inner.GetSecret(ctx, s.keyStore, s.keyName, nil)
	v := data[s.keyName]
	if v == "" && len(data) == 1 {
		for _, only := range data {
			v = only
		}
	}
	s.reg.Register(v)
	e := Entry{Action: ActionSecretRead, Actor: s.app, App: s.app, Target: s.keyStore + "/" + s.keyName,
		Outcome: readOutcome(err), Details: map[string]string{"purpose": "audit hmac key"}}
	if err == nil && v == "" {
		e.Outcome = OutcomeMissing
	}
	if rerr := s.rec.Record(ctx, e); rerr != nil {
		return secret.Value{}, rerr
	}
	if err != nil || v == "" {
		return secret.Value{}, errkind.New(errkind.Internal, fmt.Sprintf(
			"the audit HMAC key %q cannot be read from secret store %q (%s): every secret read is recorded with an HMAC under it; "+
				"add it to the store (32 random bytes, e.g. `agentctl audit keygen` prints one) and allow it in this app's secret scopes",
			s.keyName, s.keyStore, readOutcome(err)))
	}
	s.key = secret.New(v)
	return s.key, nil
}

// notUsed is the error of a read whose entry was not recorded.
func notUsed(key, store string, err error) error {
	return errkind.Wrap(errkind.Transient, err, fmt.Sprintf(
		"the read of secret %q from store %q was not recorded in the audit log, so its value was not used", key, store))
}

var detailUnsafe = regexp.MustCompile(`[^a-z0-9_.]`)

// hmacs names each value by its HMAC: "hmac" for a single value,
// "hmac.<field>" for each field of a multi-valued secret.
func hmacs(key secret.Value, name string, data map[string]string) map[string]string {
	out := map[string]string{}
	if v, ok := data[name]; ok && len(data) == 1 {
		out["hmac"] = HMAC([]byte(key.Reveal()), v)
		return out
	}
	fields := make([]string, 0, len(data))
	for f := range data {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for i, f := range fields {
		n := detailUnsafe.ReplaceAllString(strings.ToLower(f), "_")
		if n == "" || n[0] < 'a' || n[0] > 'z' || len(n) > 50 {
			n = fmt.Sprintf("field%d", i)
		}
		out["hmac."+n] = HMAC([]byte(key.Reveal()), data[f])
	}
	return out
}

func readOutcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	switch daprclient.SecretErrorKind(err) {
	case errkind.NotFound:
		return OutcomeMissing
	case errkind.Unauthorized:
		return OutcomeDenied
	}
	return OutcomeFailed
}
