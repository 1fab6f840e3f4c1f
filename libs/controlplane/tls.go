package controlplane

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// errPinMismatch marks a server whose verified chain holds none of the
// pinned public keys.
var errPinMismatch = errors.New("server public key does not match any pinned SPKI SHA-256")

type pinSet map[[sha256.Size]byte]bool

func parsePins(pins []string) (pinSet, error) {
	set := pinSet{}
	var errs []error
	for _, p := range pins {
		p = strings.TrimSpace(p)
		var raw []byte
		var err error
		if len(p) == hex.EncodedLen(sha256.Size) {
			raw, err = hex.DecodeString(p)
		} else {
			raw, err = base64.StdEncoding.DecodeString(p)
		}
		if err != nil || len(raw) != sha256.Size {
			errs = append(errs, fmt.Errorf("PinnedSPKISHA256 entry %q is not a base64 or hex SHA-256 digest", p))
			continue
		}
		set[[sha256.Size]byte(raw)] = true
	}
	return set, errors.Join(errs...)
}

// tlsConfig enforces TLS 1.2+ and, when pins are set, requires a pinned key
// in the verified chain. The proxy's own TLS (https:// proxy) is not pinned:
// the pins name the control plane, not the proxy.
func tlsConfig(roots *x509.CertPool, pins pinSet, proxyHost string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if len(pins) == 0 {
		return cfg
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if proxyHost != "" && strings.EqualFold(cs.ServerName, proxyHost) {
			return nil
		}
		for _, chain := range cs.VerifiedChains {
			for _, cert := range chain {
				if pins[sha256.Sum256(cert.RawSubjectPublicKeyInfo)] {
					return nil
				}
			}
		}
		if cs.ServerName == "" { // an IP address: the URL in the wrapping error names it
			return errPinMismatch
		}
		return fmt.Errorf("%s: %w", cs.ServerName, errPinMismatch)
	}
	return cfg
}
