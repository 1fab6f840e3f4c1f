package controlplane

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenIssue(t *testing.T) {
	h := start(t, func(o *Options) { o.TokenLifetime = 90 * time.Second })
	tests := []struct {
		name   string
		form   url.Values
		basic  bool
		status int
	}{
		{"form credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testSecret}}, false, 200},
		{"basic auth", url.Values{"grant_type": {"client_credentials"}}, true, 200},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {"nope"}}, false, 401},
		{"wrong grant", url.Values{"grant_type": {"password"}, "client_id": {testClientID}, "client_secret": {testSecret}}, false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.srv.TokenURL(), strings.NewReader(tt.form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic {
				req.SetBasicAuth(testClientID, testSecret)
			}
			resp, err := h.http.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tt.status, resp.StatusCode)
		})
	}
	_, tr := h.fetchToken(testClientID, testSecret)
	require.Equal(t, "Bearer", tr.TokenType)
	require.Equal(t, 90, tr.ExpiresIn)
	require.Equal(t, 3, h.srv.TokensIssued())
}

func TestAPIRequiresValidToken(t *testing.T) {
	h := start(t, func(o *Options) { o.TokenLifetime = time.Minute })

	resp, body := h.call(http.MethodGet, "/work?agent_id=a1&wait=0", nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Bearer realm="agent"`, resp.Header.Get("WWW-Authenticate"))
	require.Equal(t, "unauthorized", errorBody(t, body).Code)

	h.login()
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	h.clock.Advance(time.Minute)
	resp, body = h.call(http.MethodGet, "/work?agent_id=a1&wait=0", nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	require.Equal(t, "invalid_token", errorBody(t, body).Code)
}

func TestRotateSecret(t *testing.T) {
	for _, revoke := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep tokens", true: "revoke tokens"}[revoke], func(t *testing.T) {
			h := start(t, nil)
			h.login()
			h.srv.RotateSecret("s3cret-two", revoke)

			resp, _ := h.fetchToken(testClientID, testSecret)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the old secret must fail")

			resp, _ = h.poll(0)
			want := http.StatusNoContent
			if revoke {
				want = http.StatusUnauthorized
			}
			require.Equal(t, want, resp.StatusCode)

			resp, tr := h.fetchToken(testClientID, "s3cret-two")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			h.token = tr.AccessToken
			resp, _ = h.poll(0)
			require.Equal(t, http.StatusNoContent, resp.StatusCode)
		})
	}
}

func TestExpireTokensNow(t *testing.T) {
	h := start(t, nil)
	h.login()
	resp, _ := h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	h.srv.ExpireTokens()
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	h.login()
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}
