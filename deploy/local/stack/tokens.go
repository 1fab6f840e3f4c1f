package stack

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The stack's tokens. Every local process can reach every loopback port, so
// each sidecar requires an API token (DAPR_API_TOKEN) that only its app has,
// each app requires the token its sidecar sends it (APP_API_TOKEN), and the
// job API requires a bearer token that agentctl reads from the data dir.
//
// The sidecar and app tokens are new at every start, one pair per app
// instance, and live in the environment of that app and its daprd only;
// they are also written to DATA_DIR/tokens/<instance>.env (mode 0600) for an
// operator's curl and for tests. The job API token is DATA_DIR/api-token
// (mode 0600): made once and kept, so scripts and exported SA_API_TOKEN
// values keep working; delete the file to get a new one at the next start.
// All of this protects against other users of the host; a process of the
// same user can read the files (and /proc/<pid>/environ) anyway.

// APITokenFile is where a stack keeps its job API token.
func APITokenFile(dataDir string) string { return filepath.Join(dataDir, "api-token") }

// TokensDir holds each instance's sidecar and app tokens.
func TokensDir(dataDir string) string { return filepath.Join(dataDir, "tokens") }

// Tokens are one running stack's tokens.
type Tokens struct {
	API     string            // job API bearer token (CLIENT_API_TOKEN of orchestrator and health)
	Sidecar map[string]string // by instance: its daprd's DAPR_API_TOKEN
	App     map[string]string // by instance: the APP_API_TOKEN its daprd sends it
}

// minAPITokenLen matches the services' minimum for CLIENT_API_TOKEN.
const minAPITokenLen = 16

// clientRouteApps are the apps serving client routes (job API, status).
var clientRouteApps = map[string]bool{"orchestrator": true, "health": true}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// prepareTokens makes this start's sidecar and app tokens and loads (or
// makes) the job API token.
func (s *Stack) prepareTokens() error {
	api, err := loadOrCreateAPIToken(APITokenFile(s.opts.DataDir))
	if err != nil {
		return err
	}
	t := Tokens{API: api, Sidecar: map[string]string{}, App: map[string]string{}}
	dir := TokensDir(s.opts.DataDir)
	// Tokens of a previous start (perhaps with more replicas) must not
	// linger: they would look current.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the previous start's tokens in %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, inst := range s.Instances() {
		if t.Sidecar[inst], err = newToken(); err != nil {
			return err
		}
		if t.App[inst], err = newToken(); err != nil {
			return err
		}
		body := "DAPR_API_TOKEN=" + t.Sidecar[inst] + "\nAPP_API_TOKEN=" + t.App[inst] + "\n"
		if err := os.WriteFile(filepath.Join(dir, inst+".env"), []byte(body), 0o600); err != nil {
			return fmt.Errorf("write the tokens of %s: %w", inst, err)
		}
	}
	s.tokens = t
	return nil
}

// loadOrCreateAPIToken reads the job API token, making it on first start.
// A file others may read is refused rather than silently trusted.
func loadOrCreateAPIToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		tok, err := newToken()
		if err != nil {
			return "", err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("create the job API token file %s: %w", path, err)
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return "", fmt.Errorf("write the job API token file %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("write the job API token file %s: %w", path, err)
		}
		return tok, nil
	}
	if err != nil {
		return "", fmt.Errorf("read the job API token file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("the job API token file %s may be read by other users (mode %04o): run chmod 600 %s, "+
			"or delete it and a new token is made at the next start", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the job API token file %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minAPITokenLen || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("the job API token file %s does not hold a token (one line of at least %d characters, no spaces): "+
			"delete it and a new token is made at the next start", path, minAPITokenLen)
	}
	return tok, nil
}

// ReadTokens reads the tokens a running stack wrote under dataDir (a stack
// started by another process: devstack).
func ReadTokens(dataDir string) (Tokens, error) {
	t := Tokens{Sidecar: map[string]string{}, App: map[string]string{}}
	b, err := os.ReadFile(APITokenFile(dataDir))
	if err != nil {
		return t, fmt.Errorf("read the job API token: %w", err)
	}
	t.API = strings.TrimSpace(string(b))
	files, err := filepath.Glob(filepath.Join(TokensDir(dataDir), "*.env"))
	if err != nil {
		return t, err
	}
	for _, f := range files {
		inst := strings.TrimSuffix(filepath.Base(f), ".env")
		fh, err := os.Open(f)
		if err != nil {
			return t, fmt.Errorf("read the tokens of %s: %w", inst, err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "DAPR_API_TOKEN":
				t.Sidecar[inst] = v
			case "APP_API_TOKEN":
				t.App[inst] = v
			}
		}
		fh.Close()
	}
	return t, nil
}

// Tokens are this stack's tokens (never print them).
func (s *Stack) Tokens() Tokens { return s.tokens }

// SidecarToken is the API token of instance's daprd.
func (s *Stack) SidecarToken(instance string) string { return s.tokens.Sidecar[instance] }

// APIToken is the job API's bearer token.
func (s *Stack) APIToken() string { return s.tokens.API }

// sidecarTokenEnv is the token environment of instance's daprd: the token
// it requires on its API and the one it sends its app.
func (s *Stack) sidecarTokenEnv(instance string) []string {
	return []string{"DAPR_API_TOKEN=" + s.tokens.Sidecar[instance], "APP_API_TOKEN=" + s.tokens.App[instance]}
}

// appTokenEnv is the token environment of the app instance: its sidecar's
// API token, the token its sidecar sends it and, for the apps with client
// routes, the job API token.
func (s *Stack) appTokenEnv(instance string) []string {
	env := s.sidecarTokenEnv(instance)
	if clientRouteApps[AppIDOf(instance)] {
		env = append(env, "CLIENT_API_TOKEN="+s.tokens.API)
	}
	return env
}
