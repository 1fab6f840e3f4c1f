package dsncheck

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// The fuzz targets check the DSN check against the drivers' own parsers:
// whenever the parser takes a password from a DSN, the check refuses that
// DSN, and a DSN the parser accepts is never called unparseable. Seeds are
// below and in testdata/fuzz (finds of earlier runs).
//
//	go test ./dsncheck -run '^$' -fuzz FuzzDSNPostgres -fuzztime 3m

var postgresSeeds = []string{
	// the two bypasses of the old pattern check
	"host=db password = X", "postgres://u@h/db?passwor%64=X",
	"postgres://u:pw@h/db", "postgresql://u:p%40ss@h:5432/db", "postgres://u:@h/db", "postgres://:pw@h/db",
	"postgres://u@h/db?password=pw", "postgres://u@h/db?%70assword=pw", "postgres://u@h/db?PASSWORD=pw",
	"postgres://u@h/db? password =pw", "postgres://u@h/db?%20password=pw", "postgres://u@h/db?password=pw&password=",
	"postgres://u@h/db?password=&password=pw", "postgres://u@h/db?sslpassword=pw", "postgres://u:pw@h1,h2:5433/db",
	"postgres://u:pw@[::1]:5432/db", "postgres://h?x=y@z/db", "postgres://u:pw@h?x=1", "postgres://u:p:w@h/db",
	"postgres://u:pw@", "postgres://@h/db", "postgres://", "postgresql://u%3Apw@h/db", "postgres://u:%zz@h/db",
	"postgres://u:a b@h/db", "postgres://u@h/db?password", "postgres://u@h/db?password==pw", "postgres://u@h/db?ssl=true&password=x",
	"host=db password=pw", "host=db\tpassword\t=\tpw", "host=db\npassword=\npw", "password='p w' host=db",
	`password='p\'w'`, `password=p\ w`, `password=pw\`, "password=''", "password=", "host=db password",
	"host=db passfile=/dev/null", "host=db sslpassword=pw sslkey=/k", "dbname=x password=a password=b",
	"host=db application_name='password=x'", "host='db password=x'", "user=u=p host=h", "pass word=x",
	"PASSWORD=x", " password=x", "host=db password='unterminated", "service=x", "host=a,b port=1,2 password=x",
	"postgres://u:pw@h/db?sslmode=verify-full&sslrootcert=system",
}

func FuzzDSNPostgres(f *testing.F) {
	for _, s := range postgresSeeds {
		f.Add(s)
	}
	// Nothing from the environment: any password pgconn reports comes from
	// the DSN (or a file the DSN names, which the fuzzer does not create).
	for _, k := range []string{"PGPASSWORD", "PGSSLPASSWORD", "PGSERVICE", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE",
		"PGSSLMODE", "PGSSLCERT", "PGSSLKEY", "PGSSLROOTCERT", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS"} {
		f.Setenv(k, "")
	}
	f.Setenv("PGPASSFILE", "/dev/null")
	f.Setenv("PGSERVICEFILE", "/nonexistent/pg_service.conf")
	f.Fuzz(func(t *testing.T, dsn string) {
		if len(dsn) > MaxLen {
			return
		}
		err := PostgreSQL(dsn)
		cfg, perr := pgconn.ParseConfig(dsn)
		var pe *ParseError
		if perr == nil && errors.As(err, &pe) {
			t.Fatalf("pgconn parses %q, but the check says: %v", dsn, err)
		}
		if perr == nil && cfg.Password != "" && !errors.Is(err, ErrPassword) {
			t.Fatalf("pgconn takes password %q from %q, but the check says: %v", cfg.Password, dsn, err)
		}
		if err != nil && perr == nil && len(cfg.Password) > 3 && strings.Contains(err.Error(), cfg.Password) {
			t.Fatalf("the check's error shows the password: %v", err)
		}
	})
}

var mysqlSeeds = []string{
	"u:pw@tcp(h:3306)/db", "u:pw@/db", "u:@tcp(h)/db", ":pw@tcp(h)/", "u:p@w@tcp(h)/db", "u:p/w@tcp(h)/db",
	"u:p:w@unix(/s)/db", "  u:pw@tcp(h)/db  ", "u@tcp(h)/db?password=pw", "u@tcp(h)/db?Password=pw&tls=true",
	"u@tcp(h)/db?x=a:b@c", "u:pw@tcp(h/db", "u:pw@h:3306", "mysql://u:pw@h/db", "mysql://u:p%40w@h:3306/db?tls=true",
	"mariadb://u:pw@h/db", "mysql://u@h/db?password=pw", "mysql://u:@h/db", "MYSQL://u:pw@h/db", "mysql:///db",
	"mysql://u:pw@/db", "u@tcp(h)/%zz", "u@tcp(h)/db?parseTime=pw", "u@tcp(h)/db?connectionAttributes=a:b",
}

func FuzzDSNMySQL(f *testing.F) {
	for _, s := range mysqlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		if len(dsn) > MaxLen {
			return
		}
		err := MySQL(dsn)
		trimmed := strings.TrimSpace(dsn)
		if scheme, _, ok := strings.Cut(trimmed, "://"); ok && (scheme == "mysql" || scheme == "mariadb") {
			// The URL form the connector accepts: the password is the
			// URL's.
			if u, uerr := url.Parse(trimmed); uerr == nil && u.User != nil {
				if pw, _ := u.User.Password(); pw != "" && err == nil {
					t.Fatalf("the URL %q carries a password, but the check accepts it", dsn)
				}
			}
			return
		}
		cfg, perr := mysqldrv.ParseDSN(trimmed)
		if perr == nil && cfg.Passwd != "" && !errors.Is(err, ErrPassword) {
			t.Fatalf("the driver takes password %q from %q, but the check says: %v", cfg.Passwd, dsn, err)
		}
		var pe *ParseError
		if perr == nil && trimmed != "" && errors.As(err, &pe) {
			t.Fatalf("the driver parses %q, but the check says: %v", dsn, err)
		}
	})
}

var sqliteSeeds = []string{
	"file:/x.db?key=k", "FILE:/x.db?key=k", "file:x.db?ke%79=k", "file:/x.db?mode=ro&hexkey=00", "file:/x.db?_pragma=key('k')",
	"file:/x.db?_pragma=KEY%20%3D%20k", "file:/x.db?_pragma=main.key('k')", "file://u:pw@localhost/x.db", "file:/x.db?mode=ro;key=k",
	"file:/x.db?a=%zz&key=k", "file:/x.db#?key=k", "file:/x.db?a=1#&key=k", "/x.db?key=k", "file:/x.db?k+ey=1", "file:/x.db?key",
	"file:/x.db?&&key=&", "file:/x.db?_auth_pass=p", " file:/x.db?textkey=k ",
}

func FuzzDSNSQLite(f *testing.F) {
	for _, s := range sqliteSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		if len(dsn) > MaxLen {
			return
		}
		err := SQLite(dsn)
		if name, ok := sqliteSecretByURIRules(dsn); ok && err == nil {
			t.Fatalf("SQLite reads parameter %q of %q, which carries a key, but the check accepts it", name, dsn)
		}
	})
}

// sqliteSecretByURIRules reads a DSN the way SQLite's own URI parser does
// (sqlite3ParseUri: "file:" in any case, the query ends at '#', pairs split
// on '&', %HH decoded, '+' literal) and reports a secret parameter.
func sqliteSecretByURIRules(dsn string) (string, bool) {
	s := strings.TrimSpace(dsn)
	if len(s) < 5 || !strings.EqualFold(s[:5], "file:") {
		return "", false
	}
	s = s[5:]
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return "", false
	}
	for pair := range strings.SplitSeq(s[q+1:], "&") {
		k, _, _ := strings.Cut(pair, "=")
		k = sqlitePercentDecode(k)
		for _, p := range sqliteSecretParams {
			if strings.EqualFold(k, p) {
				return k, true
			}
		}
	}
	return "", false
}

func sqlitePercentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := hexVal(s[i+1])
			lo, ok2 := hexVal(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
