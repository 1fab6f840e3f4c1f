package controlplane

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestStandardOAuth2Client checks the token endpoint against a stock
// client-credentials implementation in both of its credential styles, and
// that it fetches a fresh token once every token expired.
func TestStandardOAuth2Client(t *testing.T) {
	for name, style := range map[string]oauth2.AuthStyle{"header": oauth2.AuthStyleInHeader, "params": oauth2.AuthStyleInParams} {
		t.Run(name, func(t *testing.T) {
			h := start(t, nil)
			cfg := clientcredentials.Config{ClientID: testClientID, ClientSecret: testSecret, TokenURL: h.srv.TokenURL(), AuthStyle: style}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, h.http)
			client := cfg.Client(ctx)

			resp, err := client.Get(h.srv.APIURL() + "/work?agent_id=a1&wait=0")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusNoContent, resp.StatusCode)
			require.Equal(t, 1, h.srv.TokensIssued())

			// The client caches its token by expiry time, so a revoked
			// token surfaces as the 401 the agent must handle itself.
			h.srv.ExpireTokens()
			resp, err = client.Get(h.srv.APIURL() + "/work?agent_id=a1&wait=0")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

			fresh := cfg.Client(ctx)
			resp, err = fresh.Get(h.srv.APIURL() + "/work?agent_id=a1&wait=0")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusNoContent, resp.StatusCode)
			require.Equal(t, 2, h.srv.TokensIssued())
		})
	}
}
