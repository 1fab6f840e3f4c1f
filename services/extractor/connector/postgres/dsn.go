package postgres

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

const (
	defaultConnectTimeout = 10 * time.Second
	// maintenanceDatabase is where the database list is read when neither
	// the DSN nor the source names a database (like createdb and psql -l).
	maintenanceDatabase = "postgres"
	applicationName     = "secure-agent-extractor"
	closeTimeout        = 5 * time.Second
)

// parseSource turns the source's DSN into a pgx configuration without a
// password: inline passwords are refused unless allowed, TLS follows
// sslmode (prefer by default, require when src.RequireTLS), and the
// connect timeout bounds dialling and authentication.
func parseSource(src connector.Source) (*pgx.ConnConfig, error) {
	inline, err := inlinePassword(src.DSN)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the PostgreSQL DSN: %w; use postgres://user@host:5432/db?sslmode=prefer or host=... user=... dbname=...", err)
	}
	if inline != "" && !src.AllowInlinePassword {
		return nil, connector.ErrInlinePassword
	}
	cfg, err := pgx.ParseConfig(src.DSN)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the PostgreSQL DSN: %s", scrub(parseErrorReason(err), inline))
	}
	if !src.AllowInlinePassword {
		// Only the credentials supply the password: not PGPASSWORD, a
		// password file, or a DSN form the check above does not know.
		cfg.Password = ""
	}
	if cfg.Database == "" {
		// The first database to extract is one the user may certainly
		// enter; "postgres" is only a guess.
		cfg.Database = maintenanceDatabase
		if len(src.Databases) > 0 {
			cfg.Database = src.Databases[0]
		}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = applicationName
	}
	timeout := src.ConnectTimeout
	if timeout <= 0 {
		timeout = defaultConnectTimeout
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > timeout {
		cfg.ConnectTimeout = timeout
	}
	if src.RequireTLS {
		if err := requireTLS(&cfg.Config); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// requireTLS drops every connection attempt without TLS (sslmode prefer
// and allow try plain connections too), turning prefer into require.
func requireTLS(cfg *pgconn.Config) error {
	attempts := append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...)
	var tlsOnly []*pgconn.FallbackConfig
	for _, a := range attempts {
		if a.TLSConfig != nil {
			tlsOnly = append(tlsOnly, a)
		}
	}
	if len(tlsOnly) == 0 {
		return &actionError{
			problem: "the source requires TLS but the DSN turns it off (sslmode=disable or a Unix socket)",
			action:  "remove sslmode=disable or use sslmode=require or verify-full, and connect over TCP",
		}
	}
	cfg.Host, cfg.Port, cfg.TLSConfig = tlsOnly[0].Host, tlsOnly[0].Port, tlsOnly[0].TLSConfig
	cfg.Fallbacks = tlsOnly[1:]
	return nil
}

// parseErrorReason keeps what pgconn says is wrong and drops the echo of
// the connection string it puts first ("cannot parse `...`: reason").
func parseErrorReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}
