package mysql

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

const defaultConnectTimeout = 10 * time.Second

// driverConfig turns a source into the driver's configuration. The password
// is not part of it: it is fetched from the credentials at each connect
// (see Open), so it never sits in a DSN string or in this package's state.
func driverConfig(src connector.Source) (*mysqldrv.Config, error) {
	cfg, err := parseDSN(strings.TrimSpace(src.DSN))
	if err != nil {
		return nil, err
	}
	if cfg.Passwd != "" && !src.AllowInlinePassword {
		return nil, connector.ErrInlinePassword
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

// parseDSN accepts the driver's DSN form (user@tcp(host:3306)/db?params)
// and, for convenience, a URL (mysql://user@host:3306/db?params).
func parseDSN(dsn string) (*mysqldrv.Config, error) {
	const dsnHelp = "use user@tcp(host:3306)/dbname?param=value or mysql://user@host:3306/dbname"
	if dsn == "" {
		return nil, fmt.Errorf("mysql DSN is empty; %s", dsnHelp)
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && (scheme == "mysql" || scheme == "mariadb") {
		return parseURL(dsn, dsnHelp)
	}
	if !strings.Contains(dsn, "/") {
		// The driver's own message ("missing the slash") confuses people
		// who wrote host:port.
		return nil, fmt.Errorf("mysql DSN has no '/' before the database name; %s", dsnHelp)
	}
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		// The driver's messages never echo the DSN, so no password leaks.
		return nil, fmt.Errorf("parse mysql DSN: %v; %s", err, dsnHelp)
	}
	return cfg, nil
}

func parseURL(dsn, dsnHelp string) (*mysqldrv.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url errors quote the whole input, password included: never wrap.
		return nil, fmt.Errorf("parse mysql DSN: not a valid URL; %s", dsnHelp)
	}
	cfg, err := mysqldrv.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("parse mysql DSN parameters: %v; %s", err, dsnHelp)
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	if u.Host == "" {
		return nil, fmt.Errorf("mysql DSN URL has no host; %s", dsnHelp)
	}
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
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
