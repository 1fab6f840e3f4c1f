package dsncheck

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const canary = "canary-pw-7f3a"

func TestPostgreSQL(t *testing.T) {
	t.Setenv("PGPASSWORD", "")
	for name, c := range map[string]struct {
		dsn  string
		want string // "" (accepted), "password" or "parse"
	}{
		"URL":                              {"postgres://reader@db:5432/sales?sslmode=require", ""},
		"URL, empty password":              {"postgres://reader:@db:5432/sales", ""},
		"URL password":                     {"postgres://reader:" + canary + "@db:5432/sales", "password"},
		"URL password, encoded":            {"postgresql://reader:canary%2Dpw%2D7f3a@db/sales", "password"},
		"query password":                   {"postgres://reader@db/sales?password=" + canary, "password"},
		"query password, encoded key":      {"postgres://u@h/db?passwor%64=" + canary, "password"},
		"query password, all encoded":      {"postgres://u@h/db?%70%61%73%73%77%6f%72%64=" + canary, "password"},
		"query password, spaces":           {"postgres://u@h/db?  password  =" + canary, "password"},
		"query key with encoded spaces":    {"postgres://u@h/db?%20password%20=x", ""}, // a runtime parameter " password "
		"query sslpassword":                {"postgres://u@h/db?sslpassword=" + canary, "password"},
		"query password, later wins":       {"postgres://u@h/db?password=&password=" + canary, "password"},
		"multi-host URL":                   {"postgres://u:" + canary + "@h1:5432,h2:5433/db", "password"},
		"@ before the path":                {"postgres://h?x=1@h2/db", ""},
		"keyword":                          {"host=db user=reader dbname=sales", ""},
		"keyword password":                 {"host=db password=" + canary, "password"},
		"keyword, spaces around =":         {"host=db password = " + canary, "password"},
		"keyword, tabs and newline":        {"host=db\tpassword\t=\n" + canary, "password"},
		"keyword, quoted":                  {"host=db password='" + canary + " x'", "password"},
		"keyword, escaped quote":           {`host=db password='a\'b'`, "password"},
		"keyword sslpassword":              {"host=db sslpassword=" + canary, "password"},
		"keyword, empty password":          {"host=db password=''", "password"},
		"keyword, password in a value":     {"host=db application_name='password=x'", ""},
		"keyword, passfile":                {"host=db passfile=/nonexistent", ""},
		"keyword, unterminated quote":      {"host=db password='" + canary, "parse"},
		"keyword, no =":                    {"host=db " + canary, "parse"},
		"URL, bad escape in password":      {"postgres://u:%zz" + canary + "@h/db", "parse"},
		"URL, space in password":           {"postgres://u:a " + canary + "@h/db", "parse"},
		"URL, double =":                    {"postgres://u@h/db?password==" + canary, "parse"},
		"URL, NUL":                         {"postgres://u@h/db?password=\x00" + canary, "parse"},
		"no parameters":                    {"postgres://", ""},
		"bad port is the connector's call": {"postgres://u@h:notaport/db", ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := Check("postgres", c.dsn)
			assertOutcome(t, c.want, err)
		})
	}
}

// The environment neither hides a DSN's password nor invents one.
func TestPostgreSQLIgnoresTheEnvironment(t *testing.T) {
	t.Setenv("PGPASSWORD", "from-env")
	t.Setenv("PGSSLMODE", "bogus") // would fail a full parse
	t.Setenv("PGSERVICE", "nosuchservice")
	require.NoError(t, PostgreSQL("postgres://reader@db/sales"))
	require.NoError(t, PostgreSQL("host=db user=reader"))
	require.ErrorIs(t, PostgreSQL("host=db password=x"), ErrPassword)
	require.ErrorIs(t, PostgreSQL("postgres://u:x@db/sales"), ErrPassword)
}

func TestPostgreSQLKeys(t *testing.T) {
	keys, err := PostgreSQLKeys("postgres://u@h:5433/sales?sslmode=require&application_name=x")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"user", "host", "port", "database", "sslmode", "application_name"}, keys)
	keys, err = PostgreSQLKeys("dbname=sales host=h")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"database", "host"}, keys)
	keys, err = PostgreSQLKeys("postgres://h/?ssl=true")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"host", "ssl"}, keys)
}

func TestMySQL(t *testing.T) {
	for name, c := range map[string]struct{ dsn, want string }{
		"driver form":               {"reader@tcp(db:3306)/sales?tls=true", ""},
		"no database":               {"reader@tcp(db:3306)/", ""},
		"driver password":           {"reader:" + canary + "@tcp(db:3306)/", "password"},
		"password with @ and /":     {"reader:a@b/c" + canary + "@tcp(db:3306)/x", "password"},
		"password, spaces around":   {"  reader:" + canary + "@tcp(db)/  ", "password"},
		"empty password":            {"reader:@tcp(db)/", ""},
		"password parameter":        {"reader@tcp(db)/x?Password=" + canary, "password"},
		"URL":                       {"mysql://reader@db:3306/sales", ""},
		"URL password":              {"mysql://reader:" + canary + "@db/sales", "password"},
		"MariaDB URL password":      {"mariadb://reader:" + canary + "@db/sales", "password"},
		"URL password, encoded":     {"mysql://reader:canary%2Dpw@db/sales", "password"},
		"other scheme":              {"MYSQL://reader:" + canary + "@db/sales", "parse"}, // the driver's form, network "db"
		"unterminated address":      {"reader:" + canary + "@tcp(db/x", "parse"},
		"no slash":                  {"reader:" + canary + "@db:3306", "parse"},
		"bad bool":                  {"reader@tcp(db)/x?parseTime=" + canary, "parse"},
		"bad dbname escape":         {"reader@tcp(db)/%zz" + canary, "parse"},
		"URL without host":          {"mysql:///sales", "parse"},
		"URL with bad query escape": {"mysql://u@h/x?loc=%zz" + canary, "parse"},
	} {
		t.Run(name, func(t *testing.T) {
			assertOutcome(t, c.want, Check("mysql", c.dsn))
		})
	}
}

func TestSQLite(t *testing.T) {
	for name, c := range map[string]struct{ dsn, want string }{
		"path":                       {"/var/lib/demo.db", ""},
		"path with a question mark":  {"/var/lib/demo.db?key=" + canary, ""}, // a file name, no parameters
		"URI":                        {"file:/var/lib/demo.db?mode=ro&immutable=1", ""},
		"URI key":                    {"file:/x.db?key=" + canary, "password"},
		"URI key, upper case":        {"FILE:/x.db?KEY=" + canary, "password"},
		"URI key, encoded name":      {"file:/x.db?ke%79=" + canary, "password"},
		"URI hexkey":                 {"file:/x.db?hexkey=" + canary, "password"},
		"URI _auth_pass":             {"file:/x.db?_auth_user=a&_auth_pass=" + canary, "password"},
		"key pragma":                 {"file:/x.db?_pragma=key('" + canary + "')", "password"},
		"key pragma, spaced":         {"file:/x.db?_pragma=%20KEY%20=%20" + canary, "password"},
		"key pragma, schema":         {"file:/x.db?_pragma=main.rekey('" + canary + "')", "password"},
		"other pragma":               {"file:/x.db?_pragma=journal_mode(WAL)", ""},
		"keyboard pragma is not key": {"file:/x.db?_pragma=keyboard(1)", ""},
		"password in authority":      {"file://u:" + canary + "@localhost/x.db", "password"},
		"semicolon hides a key":      {"file:/x.db?mode=ro;key=" + canary, "parse"},
		"bad escape":                 {"file:/x.db?mode=%zz&key=" + canary, "parse"},
	} {
		t.Run(name, func(t *testing.T) {
			assertOutcome(t, c.want, Check("sqlite", c.dsn))
		})
	}
}

// An unknown kind is refused when any driver would find a password.
func TestUnknownKind(t *testing.T) {
	require.ErrorIs(t, Check("oracle", "postgres://u:"+canary+"@h/db"), ErrPassword)
	require.ErrorIs(t, Check("", "u:"+canary+"@tcp(h)/"), ErrPassword)
	require.NoError(t, Check("oracle", "postgres://u@h/db"))
}

func TestTooLong(t *testing.T) {
	err := Check("postgres", "host=h application_name="+strings.Repeat("x", MaxLen))
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, err.Error(), "the limit is 4096")
}

func assertOutcome(t *testing.T, want string, err error) {
	t.Helper()
	switch want {
	case "":
		require.NoError(t, err)
		return
	case "password":
		require.ErrorIs(t, err, ErrPassword)
	case "parse":
		var pe *ParseError
		require.True(t, errors.As(err, &pe), "want a parse error, got %v", err)
	}
	require.NotContains(t, err.Error(), canary, "the DSN is never echoed")
	require.NotContains(t, err.Error(), "7f3a")
}
