// Package adapters connects the extractor's use cases to Dapr and the
// outside world.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
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
// time a connection is made, and hands it out only for the hosts the secret
// is bound to (binding_daprsecret.go); the value is returned, never kept.
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

// Password refuses: a source secret is handed out only for a known
// destination (PasswordFor), so a connector that does not say where it will
// send the password gets none.
func (c *SecretCredentials) Password(context.Context) (secret.Value, error) {
	return secret.Value{}, errkind.New(errkind.Internal, fmt.Sprintf("secret %q in store %q is bound to hosts and is handed out only "+
		"for a connection whose address is known (connector.PasswordFor); this connector did not give one", c.ref.Key, c.ref.Store))
}

// PasswordFor implements connector.BoundCredentials: it reads the secret
// and its host binding and returns the password only if every target is in
// the binding. Errors name the store, key, binding and targets, never a
// value.
func (c *SecretCredentials) PasswordFor(ctx context.Context, to []connector.Target) (secret.Value, error) {
	if len(to) == 0 {
		return secret.Value{}, errkind.New(errkind.Internal, fmt.Sprintf("secret %q: no destination given for the password", c.ref.Key))
	}
	data, err := c.get(ctx, c.ref.Key)
	if err != nil {
		return secret.Value{}, err
	}
	field := c.ref.Field
	if field == "" {
		field = c.ref.Key
	}
	v, ok := data[field]
	if !ok {
		return secret.Value{}, errkind.New(errkind.NotFound, fmt.Sprintf("secret %q in store %q has no field %q; its fields are: %s",
			c.ref.Key, c.ref.Store, field, strings.Join(fieldNames(data), ", ")))
	}
	if v == "" {
		return secret.Value{}, errkind.New(errkind.Invalid, fmt.Sprintf("secret %q in store %q is empty", c.ref.Key, c.ref.Store))
	}
	b, err := c.binding(ctx, data, to)
	if err != nil {
		return secret.Value{}, err
	}
	if err := b.permit(to); err != nil {
		return secret.Value{}, err
	}
	return secret.New(v), nil
}

// get reads one secret; errors name the store and key only. The getter
// is the sidecar's client, counted (SecretReads.Counting) in the service.
func (c *SecretCredentials) get(ctx context.Context, key string) (map[string]string, error) {
	data, err := c.getter.GetSecret(ctx, c.ref.Store, key, nil)
	if errors.Is(err, audit.ErrUnavailable) {
		return nil, err // it says the read was not recorded and the value not used
	}
	if err != nil {
		return nil, errkind.Wrap(daprclient.SecretErrorKind(err), err, fmt.Sprintf("read secret %q from secret store %q "+
			"(is the store's component loaded by the extractor, does the key exist, and do the extractor's secret scopes allow it?)", key, c.ref.Store))
	}
	return data, nil
}

func fieldNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
