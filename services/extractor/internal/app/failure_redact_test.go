package app

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

type staticPassword string

func (p staticPassword) Password(context.Context) (secret.Value, error) {
	return secret.New(string(p)), nil
}

// boundPassword hands its password out only for one target.
type boundPassword struct {
	pw    string
	to    connector.Target
	asked []connector.Target
}

func (b *boundPassword) Password(context.Context) (secret.Value, error) {
	return secret.Value{}, errors.New("bound: use PasswordFor")
}

func (b *boundPassword) PasswordFor(_ context.Context, to []connector.Target) (secret.Value, error) {
	b.asked = append(b.asked, to...)
	if len(to) != 1 || to[0] != b.to {
		return secret.Value{}, errors.New("not bound to that host")
	}
	return secret.New(b.pw), nil
}

// A server may echo the password back encoded; the run's error text must
// lose it in every form before it is published or logged.
func TestRunErrorsLoseEncodedPasswords(t *testing.T) {
	const pw = "s3cr3t/pass+word?"
	creds := &scrubbingCredentials{inner: staticPassword(pw)}
	got, err := creds.Password(context.Background())
	require.NoError(t, err)
	require.Equal(t, pw, got.Reveal())
	for name, form := range map[string]string{
		"plain":       pw,
		"base64":      base64.StdEncoding.EncodeToString([]byte(pw)),
		"base64url":   base64.RawURLEncoding.EncodeToString([]byte(pw)),
		"basic auth":  base64.StdEncoding.EncodeToString([]byte("reader:" + pw)),
		"url-encoded": url.QueryEscape(pw),
		"path":        url.PathEscape(pw),
		"hex":         hex.EncodeToString([]byte(pw)),
	} {
		t.Run(name, func(t *testing.T) {
			err := creds.wrap(fmt.Errorf("login failed: server echoed %s back", form))
			require.NotContains(t, err.Error(), form)
			require.Contains(t, err.Error(), "login failed: server echoed")
		})
	}
}

func TestScrubbingCredentialsPassTheDestinationOn(t *testing.T) {
	db := connector.TCPTarget("db.internal:5432")
	inner := &boundPassword{pw: "pw-123456", to: db}
	creds := &scrubbingCredentials{inner: inner}
	got, err := connector.PasswordFor(context.Background(), creds, []connector.Target{db})
	require.NoError(t, err)
	require.Equal(t, "pw-123456", got.Reveal())
	_, err = connector.PasswordFor(context.Background(), creds, []connector.Target{connector.TCPTarget("evil:5432")})
	require.ErrorContains(t, err, "not bound")
	require.Equal(t, []connector.Target{db, connector.TCPTarget("evil:5432")}, inner.asked)
	require.Equal(t, "x [REDACTED] y", creds.scrub("x pw-123456 y"))
}
