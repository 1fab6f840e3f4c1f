package controlplane

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"
)

// authority issues and checks client-credentials access tokens.
type authority struct {
	mu       sync.Mutex
	clientID string
	secret   string
	lifetime time.Duration
	now      func() time.Time
	tokens   map[string]time.Time // token → expiry
	issued   int
}

func newAuthority(id, secret string, lifetime time.Duration, now func() time.Time) *authority {
	return &authority{clientID: id, secret: secret, lifetime: lifetime, now: now, tokens: map[string]time.Time{}}
}

// TokenResponse is the OAuth 2.0 token endpoint's answer.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	tok, lifetime, ok := s.auth.issue(id, secret)
	if !ok {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="default"`)
		}
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong client secret")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, TokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(lifetime / time.Second)})
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (a *authority) issue(id, secret string) (string, time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(a.clientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(a.secret)) == 1
	if !idOK || !secretOK {
		return "", 0, false
	}
	tok := "cp-" + randomHex(24)
	a.tokens[tok] = a.now().Add(a.lifetime)
	a.issued++
	return tok, a.lifetime, true
}

// check answers "" for a valid token, else why it is not.
func (a *authority) check(tok string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.tokens[tok]
	switch {
	case !ok:
		return "the access token is unknown or was revoked"
	case !a.now().Before(exp):
		return "the access token expired"
	}
	return ""
}

func (a *authority) rotate(secret string, revoke bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.secret = secret
	if revoke {
		a.tokens = map[string]time.Time{}
	}
}

func (a *authority) expireAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for tok := range a.tokens {
		a.tokens[tok] = now
	}
}

func (a *authority) setLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lifetime = d
}

func (a *authority) issuedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issued
}

// middleware answers 401 with a Bearer challenge (RFC 6750) unless the
// request carries a valid access token.
func (a *authority) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, found := strings.CutPrefix(h, "Bearer ")
		if !found || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agent"`)
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "send an access token: Authorization: Bearer <token>")
			return
		}
		if why := a.check(tok); why != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agent", error="invalid_token", error_description="`+why+`"`)
			writeError(w, r, http.StatusUnauthorized, "invalid_token", why+"; fetch a new token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RotateSecret makes newSecret the only accepted client secret. With
// revokeTokens, every token issued so far stops working at once; without,
// they live out their lifetime as Keycloak's do.
func (s *Server) RotateSecret(newSecret string, revokeTokens bool) {
	s.auth.rotate(newSecret, revokeTokens)
}

// ExpireTokens makes every issued token expired now.
func (s *Server) ExpireTokens() { s.auth.expireAll() }

// SetTokenLifetime changes the lifetime of tokens issued from now on.
func (s *Server) SetTokenLifetime(d time.Duration) { s.auth.setLifetime(d) }

// TokensIssued counts tokens issued since start.
func (s *Server) TokensIssued() int { return s.auth.issuedCount() }
