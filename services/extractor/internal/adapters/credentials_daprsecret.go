// Package adapters connects the extractor's use cases to Dapr and the
// outside world.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// SecretRef names a secret in a Dapr secret store: never its value. Field
// picks one value of a multi-valued secret (default: the key itself, the
// shape of file, env and most vault stores).
type SecretRef struct {
	Store string `json:"store" yaml:"store"`
	Key   string `json:"key" yaml:"key"`
	Field string `json:"field,omitempty" yaml:"field,omitempty"`
}

// Validate reports a reference that cannot name a secret.
func (r SecretRef) Validate() error {
	var missing []string
	if strings.TrimSpace(r.Store) == "" {
		missing = append(missing, "store")
	}
	if strings.TrimSpace(r.Key) == "" {
		missing = append(missing, "key")
	}
	if len(missing) > 0 {
		return errkind.New(errkind.Invalid, "secret reference is missing "+strings.Join(missing, " and ")+
			" (name the Dapr secret store component and the key, e.g. store: secrets, key: sales-db-password)")
	}
	return nil
}

// SecretGetter is the slice of the Dapr client the credentials need.
type SecretGetter interface {
	GetSecret(ctx context.Context, storeName, key string, meta map[string]string) (map[string]string, error)
}

// SecretCredentials reads a source password from the Dapr secret store each
// time a connection is made; the value is returned, never kept.
type SecretCredentials struct {
	getter SecretGetter
	ref    SecretRef
}

// NewSecretCredentials validates ref.
func NewSecretCredentials(getter SecretGetter, ref SecretRef) (*SecretCredentials, error) {
	if getter == nil {
		return nil, errors.New("secret credentials: nil secret getter")
	}
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	return &SecretCredentials{getter: getter, ref: ref}, nil
}

// Password implements connector.Credentials. Errors name the store, key and
// field, never a value.
func (c *SecretCredentials) Password(ctx context.Context) (string, error) {
	data, err := c.getter.GetSecret(ctx, c.ref.Store, c.ref.Key, nil)
	if err != nil {
		kind := errkind.Transient
		msg := err.Error()
		switch {
		case strings.Contains(msg, "PermissionDenied"), strings.Contains(msg, "access denied"):
			kind = errkind.Unauthorized
		case strings.Contains(msg, "NotFound"), strings.Contains(msg, "not found"), strings.Contains(msg, "failed finding"):
			kind = errkind.NotFound
		}
		return "", errkind.Wrap(kind, err, fmt.Sprintf("read secret %q from secret store %q "+
			"(is the store's component loaded by the extractor, does the key exist, and do the extractor's secret scopes allow it?)", c.ref.Key, c.ref.Store))
	}
	field := c.ref.Field
	if field == "" {
		field = c.ref.Key
	}
	v, ok := data[field]
	if !ok {
		return "", errkind.New(errkind.NotFound, fmt.Sprintf("secret %q in store %q has no field %q; its fields are: %s",
			c.ref.Key, c.ref.Store, field, strings.Join(fieldNames(data), ", ")))
	}
	if v == "" {
		return "", errkind.New(errkind.Invalid, fmt.Sprintf("secret %q in store %q is empty", c.ref.Key, c.ref.Store))
	}
	return v, nil
}

func fieldNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
