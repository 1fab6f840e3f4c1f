package mysql

import (
	"errors"
	"fmt"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/secure-agent/secure-agent/libs/dsncheck"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

const defaultConnectTimeout = 10 * time.Second

// driverConfig turns a source into the driver's configuration. The password
// is not part of it: it is fetched from the credentials at each connect
// (see Open), so it never sits in a DSN string or in this package's state.
func driverConfig(src connector.Source) (*mysqldrv.Config, error) {
	// libs/dsncheck reads the DSN for the job spec check and here alike:
	// one rule for what carries a password.
	switch err := dsncheck.MySQL(src.DSN); {
	case errors.Is(err, dsncheck.ErrPassword) && !src.AllowInlinePassword:
		return nil, connector.ErrInlinePassword
	case err != nil && !errors.Is(err, dsncheck.ErrPassword):
		return nil, err
	}
	cfg, err := dsncheck.ParseMySQL(src.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.Net != "tcp" && cfg.Net != "unix" {
		return nil, fmt.Errorf("mysql DSN: network %q is not supported; use tcp(host:port) or unix(/path/to/socket)", cfg.Net)
	}
	if err := setTLS(cfg, src.RequireTLS); err != nil {
		return nil, err
	}
	if cfg.AllowCleartextPasswords && cfg.TLSConfig != "true" {
		return nil, fmt.Errorf("mysql DSN: allowCleartextPasswords=true would send the password unencrypted; " +
			"use it only together with tls=true (or require_tls), or remove it")
	}
	// The agent only reads the catalog: refuse what a hostile or
	// misconfigured server could use against it, and send every statement as
	// a server-side prepared statement with bound parameters.
	cfg.AllowAllFiles = false
	cfg.AllowOldPasswords = false
	cfg.MultiStatements = false
	cfg.InterpolateParams = false
	cfg.ParseTime = false // times are read as UNIX_TIMESTAMP(), see read_tables.go

	timeout := src.ConnectTimeout
	if timeout <= 0 {
		timeout = defaultConnectTimeout
	}
	cfg.Timeout = timeout
	return cfg, nil
}

// setTLS defaults to TLS when the server offers it ("preferred": encrypted
// but not verified, like the mysql client's default) and, with require,
// to verified TLS that refuses a server without it.
func setTLS(cfg *mysqldrv.Config, require bool) error {
	mode := cfg.TLSConfig
	switch {
	case require && (mode == "" || mode == "preferred" || mode == "true"):
		cfg.TLSConfig = "true"
		cfg.AllowFallbackToPlaintext = false
	case require:
		return fmt.Errorf("mysql DSN sets tls=%s, but the source requires verified TLS (require_tls); "+
			"remove the tls parameter or set tls=true", mode)
	case mode == "":
		cfg.TLSConfig = "preferred"
	}
	// ParseDSN already derived cfg.TLS from the old mode; NewConnector
	// derives it again from TLSConfig.
	cfg.TLS = nil
	return nil
}
