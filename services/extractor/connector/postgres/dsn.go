package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secure-agent/secure-agent/libs/dsncheck"
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
// password: inline passwords are refused unless allowed (libs/dsncheck
// decides, with pgconn's own parser), TLS follows sslmode (prefer by
// default, require when src.RequireTLS), and the connect timeout bounds
// dialling and authentication. It also returns the database the DSN
// itself names ("" for none; not PGDATABASE or a service file's).
func parseSource(src connector.Source) (*pgx.ConnConfig, string, error) {
	inline := false
	switch err := dsncheck.PostgreSQL(src.DSN); {
	case errors.Is(err, dsncheck.ErrPassword) && !src.AllowInlinePassword:
		return nil, "", connector.ErrInlinePassword
	case errors.Is(err, dsncheck.ErrPassword):
		inline = true
	case err != nil:
		return nil, "", err
	}
	keys, err := dsncheck.PostgreSQLKeys(src.DSN)
	if err != nil {
		return nil, "", err
	}
	cfg, err := pgx.ParseConfig(src.DSN)
	if err != nil {
		if inline {
			// pgconn's reasons name settings, not values, but a DSN with
			// a password gets no benefit of the doubt.
			return nil, "", errors.New("cannot parse the PostgreSQL DSN (its text is not shown because it carries a password): check its port, sslmode and file paths")
		}
		return nil, "", fmt.Errorf("cannot parse the PostgreSQL DSN: %s", parseErrorReason(err))
	}
	dsnDatabase := ""
	if slices.Contains(keys, "database") {
		dsnDatabase = cfg.Database // the DSN's value wins over the environment's
	}
	if !src.AllowInlinePassword {
		// Only the credentials supply the password: not PGPASSWORD or a
		// password or service file.
		cfg.Password = ""
	}
	if cfg.Database == "" {
		// The first database to extract is one the user may certainly
		// enter; "postgres" is only a guess.
		cfg.Database = maintenanceDatabase
		if len(src.Databases) > 0 && src.Databases[0] != connector.AllDatabases {
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
			return nil, "", err
		}
	}
	return cfg, dsnDatabase, nil
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
