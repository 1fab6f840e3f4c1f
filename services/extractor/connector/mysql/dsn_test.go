package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func TestDriverConfig(t *testing.T) {
	tests := []struct {
		name       string
		src        connector.Source
		wantErr    string
		addr, user string
		tls        string
		timeout    time.Duration
	}{
		{name: "driver form", src: connector.Source{DSN: "agent@tcp(db.internal:3307)/shop"},
			addr: "db.internal:3307", user: "agent", tls: "preferred", timeout: 10 * time.Second},
		{name: "url form", src: connector.Source{DSN: "mysql://agent@db.internal/shop?timeout=5s", ConnectTimeout: 3 * time.Second},
			addr: "db.internal:3306", user: "agent", tls: "preferred", timeout: 3 * time.Second},
		{name: "require tls", src: connector.Source{DSN: "agent@tcp(db:3306)/", RequireTLS: true},
			addr: "db:3306", user: "agent", tls: "true", timeout: 10 * time.Second},
		{name: "explicit tls=false", src: connector.Source{DSN: "agent@tcp(db:3306)/?tls=false"},
			addr: "db:3306", user: "agent", tls: "false", timeout: 10 * time.Second},
		{name: "require tls but tls=skip-verify", src: connector.Source{DSN: "agent@tcp(db:3306)/?tls=skip-verify", RequireTLS: true},
			wantErr: "requires verified TLS"},
		{name: "inline password", src: connector.Source{DSN: "agent:hunter2@tcp(db:3306)/"}, wantErr: "contains a password"},
		{name: "inline password in url", src: connector.Source{DSN: "mysql://agent:hunter2@db/"}, wantErr: "contains a password"},
		{name: "inline password allowed", src: connector.Source{DSN: "agent:hunter2@tcp(db:3306)/", AllowInlinePassword: true},
			addr: "db:3306", user: "agent", tls: "preferred", timeout: 10 * time.Second},
		{name: "host:port only", src: connector.Source{DSN: "db:3306"}, wantErr: "no '/' before the database name"},
		{name: "cleartext without tls", src: connector.Source{DSN: "agent@tcp(db:3306)/?allowCleartextPasswords=true"},
			wantErr: "allowCleartextPasswords"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := driverConfig(tt.src)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "hunter2")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.addr, cfg.Addr)
			require.Equal(t, tt.user, cfg.User)
			require.Equal(t, tt.tls, cfg.TLSConfig)
			require.Equal(t, tt.timeout, cfg.Timeout)
			require.False(t, cfg.AllowAllFiles)
			require.False(t, cfg.MultiStatements)
		})
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		raw                 string
		mariaDB, ok, regexp bool
	}{
		{"10.11.19-MariaDB-0+deb12u1", true, true, true},
		{"10.2.44-MariaDB", true, false, true},
		{"8.0.36", false, true, true},
		{"8.0.3-rc", false, true, false},
		{"5.7.44-log", false, true, false},
		{"5.6.51", false, false, false},
	}
	for _, tt := range tests {
		v, err := parseVersion(tt.raw)
		require.NoError(t, err, tt.raw)
		require.Equal(t, tt.mariaDB, v.mariaDB, tt.raw)
		require.Equal(t, tt.ok, v.supported(), tt.raw)
		require.Equal(t, tt.regexp, v.regexPushdown(), tt.raw)
	}
	_, err := parseVersion("banana")
	require.ErrorContains(t, err, `"banana"`)
}

// TestUserInputIsBound: schema names and patterns reach the server only as
// bound parameters, never in the statement text.
func TestUserInputIsBound(t *testing.T) {
	evil := `x'; DROP DATABASE mysql; --`
	f := connector.Filters{
		IncludeSchemas: []string{evil}, ExcludeSchemas: []string{evil},
		IncludeTables: []string{evil}, ExcludeTables: []string{evil}, TempTables: evil,
	}
	c, err := f.Compile()
	require.NoError(t, err)
	sc := scope{connection: testConnection, schemas: []string{evil}, filters: c, pushdown: true}
	var w where
	sc.tableFilter(&w, "t.TABLE_SCHEMA", "t.TABLE_NAME")
	query, args := sc.tablesQuery(serverInfo{viewTableUsage: true}, vtuTable, 0)
	require.NotContains(t, w.sql()+query, "DROP")
	require.Equal(t, strings.Count(query, "?"), len(args))
	require.Contains(t, args, regexArg("^(?:"+evil+")$"))
	require.Contains(t, args, evil)
}
