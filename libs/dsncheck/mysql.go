package dsncheck

import (
	"net/url"
	"strings"

	mysqldrv "github.com/go-sql-driver/mysql"
)

const mysqlHint = "write user@tcp(host:3306)/dbname?param=value or mysql://user@host:3306/dbname"

// MySQL refuses a DSN from which the MySQL driver would take a password
// (user:password@, in either form the connector reads), one that sets a
// session variable named password (the driver sends every unknown
// parameter as SET name=value), or one it cannot parse.
func MySQL(dsn string) error {
	cfg, err := ParseMySQL(dsn)
	if err != nil {
		return err
	}
	if cfg.Passwd != "" {
		return secret("user:password@")
	}
	for name := range cfg.Params {
		if strings.EqualFold(name, "password") {
			return secret("parameter " + name)
		}
	}
	return nil
}

// ParseMySQL reads a MySQL DSN the way the mysql connector connects with
// it: the driver's own form (user@tcp(host:3306)/db?params, parsed by
// mysql.ParseDSN) or, for convenience, a mysql:// or mariadb:// URL. Errors
// never contain the DSN.
func ParseMySQL(dsn string) (*mysqldrv.Config, error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return nil, &ParseError{Driver: "MySQL", Reason: "it is empty", Hint: mysqlHint}
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && (scheme == "mysql" || scheme == "mariadb") {
		return parseMySQLURL(dsn)
	}
	if !strings.Contains(dsn, "/") {
		// The driver's own message ("missing the slash") confuses people
		// who wrote host:port.
		return nil, &ParseError{Driver: "MySQL", Reason: "it has no '/' before the database name", Hint: mysqlHint}
	}
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return nil, &ParseError{Driver: "MySQL", Reason: mysqlReason(err), Hint: mysqlHint}
	}
	return cfg, nil
}

func parseMySQLURL(dsn string) (*mysqldrv.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url errors quote the whole input, password included.
		return nil, &ParseError{Driver: "MySQL", Reason: "it is not a valid URL", Hint: mysqlHint}
	}
	cfg, err := mysqldrv.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, &ParseError{Driver: "MySQL", Reason: "its parameters: " + mysqlReason(err), Hint: mysqlHint}
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	if u.Host == "" {
		return nil, &ParseError{Driver: "MySQL", Reason: "the URL has no host", Hint: mysqlHint}
	}
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	return cfg, nil
}

// mysqlReason keeps the driver's fixed "invalid DSN: ..." messages; the
// others quote values (a database name, a parameter value) from the DSN.
func mysqlReason(err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, "invalid DSN: ") && !strings.ContainsAny(msg, `"'`) {
		return strings.TrimPrefix(msg, "invalid DSN: ")
	}
	return "a parameter value, a %-escape or the database name is malformed"
}
