package stack

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/secure-agent/secure-agent/libs/audit"
)

// The secret-store keys of the audit log (ADR 0014).
const (
	auditHMACKey    = audit.DefaultHMACKey
	auditSigningKey = "audit-signing-key"
)

var unsafeOrigin = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

// sampleKeyMarker names the sample file's audit keys (secrets.sample.json:
// a shared demo key, for the Dapr CLI path that copies the sample as is).
const sampleKeyMarker = "sample-not-for-production"

// ensureAuditKeys gives the stack's secret file its own audit keys when it
// has none or only the sample's: a random HMAC key and an Ed25519
// checkpoint signing key whose name (the log's origin) is unique to this
// data directory. Its own keys are kept, so the log's checkpoints stay
// verifiable across restarts. A file that does not parse is left for
// validateSecretsFile to report.
func ensureAuditKeys(path, dataDir string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m == nil {
		return nil
	}
	changed := false
	sample := func(k string) bool {
		v, ok := m[k].(string)
		return !ok || strings.Contains(v, sampleKeyMarker) || strings.HasPrefix(v, "FAKE-")
	}
	if sample(auditHMACKey) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		m[auditHMACKey] = hex.EncodeToString(k)
		changed = true
	}
	if sample(auditSigningKey) {
		id := make([]byte, 4)
		if _, err := rand.Read(id); err != nil {
			return err
		}
		base := unsafeOrigin.ReplaceAllString(filepath.Base(filepath.Clean(dataDir)), "-")
		skey, _, err := audit.GenerateKey("secure-agent.local/" + base + "-" + hex.EncodeToString(id))
		if err != nil {
			return fmt.Errorf("generate the audit signing key: %w", err)
		}
		m[auditSigningKey] = skey
		changed = true
	}
	if !changed {
		return nil
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, path)
}
