package logging

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// secretWithEverything needs escaping in URLs and gives base64 output with
// '+', '/', '-' and '_' in it.
const secretWithEverything = "p@ss word/ü?&=+~>>?"

func TestRedactSecretCutsEveryEncodedForm(t *testing.T) {
	s := secretWithEverything
	b := []byte(s)
	forms := map[string]string{
		"plain":              s,
		"base64 std":         base64.StdEncoding.EncodeToString(b),
		"base64 url":         base64.URLEncoding.EncodeToString(b),
		"base64 raw std":     base64.RawStdEncoding.EncodeToString(b),
		"base64 raw url":     base64.RawURLEncoding.EncodeToString(b),
		"query escape":       url.QueryEscape(s),
		"path escape":        url.PathEscape(s),
		"query escape, %20":  strings.ReplaceAll(url.QueryEscape(s), "+", "%20"),
		"lower-case escapes": strings.ToLower(url.QueryEscape(s)),
		"hex":                hex.EncodeToString(b),
		"HEX":                strings.ToUpper(hex.EncodeToString(b)),
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			msg := "server said: authentication failed for [" + form + "] (code 28P01)"
			got := RedactSecret(msg, s)
			require.NotContains(t, got, form)
			require.Equal(t, "server said: authentication failed for ["+Redacted+"] (code 28P01)", got)
			require.Equal(t, got, RedactSecret(got, s), "idempotent")
		})
	}
	if strings.ToLower(url.QueryEscape(s)) == url.QueryEscape(s) {
		t.Fatal("the secret must produce escapes with letters, or the lower-case case tests nothing")
	}
}

// A server echoing an HTTP Basic credential, or any encoded text the
// secret sits inside at some offset, leaves the secret's part of the
// encoding in the message; it is cut whatever the alignment.
func TestRedactSecretInsideLongerEncodedText(t *testing.T) {
	for _, user := range []string{"", "u", "us", "usr", "user:"} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			blob := enc.EncodeToString([]byte(user + secretWithEverything + "@suffix"))
			got := RedactSecret("Authorization: Basic "+blob, secretWithEverything)
			require.Contains(t, got, Redacted, "user %q", user)
			decoded := strings.ReplaceAll(got, Redacted, "")
			for _, f := range SecretForms(secretWithEverything) {
				require.NotContains(t, decoded, f, "user %q", user)
			}
		}
	}
}

func TestRedactSecretLeavesOtherTextAlone(t *testing.T) {
	msg := "connect to 127.0.0.1:5432 as reader: connection refused"
	require.Equal(t, msg, RedactSecret(msg, "hunter2-Secret"))
	require.Equal(t, msg, RedactSecret(msg, ""))
	// A one-letter secret is cut as itself, never as its two-digit hex.
	require.Equal(t, "code 61 "+Redacted, RedactSecret("code 61 Z", "Z"))
}
