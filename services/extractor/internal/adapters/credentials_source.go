package adapters

import (
	"errors"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// SecretSource makes a job's source credentials from its password
// reference: read from the Dapr secret store at each connect, never kept.
type SecretSource struct {
	getter SecretGetter
}

// NewSecretSource returns a source reading through getter (the sidecar's
// client).
func NewSecretSource(getter SecretGetter) (*SecretSource, error) {
	if getter == nil {
		return nil, errors.New("secret source: nil secret getter")
	}
	return &SecretSource{getter: getter}, nil
}

// For returns the credentials of ref; a nil ref means the source needs no
// password.
func (s *SecretSource) For(ref *job.SecretRef) (connector.Credentials, error) {
	if ref == nil {
		return connector.NoCredentials{}, nil
	}
	return NewSecretCredentials(s.getter, SecretRef{Store: ref.Store, Key: ref.Key, Field: ref.Field})
}
