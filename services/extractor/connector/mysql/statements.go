package mysql

import (
	"context"
	"errors"
	"net"
	"strconv"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// Kind is the Source.Kind this package serves (MySQL and MariaDB), and
// the connector label of its metrics.
const Kind = "mysql"

// The statements the connector sends, by stable name (docs/connectors.md).
// Every one goes through counter.run, the one place they are counted and
// observed. Summaries name the information_schema tables read.
var (
	stProbe       = dbobs.Statement{Name: "probe", Operation: "SELECT", Summary: "SELECT SCHEMATA COLUMNS"}
	stSchemas     = dbobs.Statement{Name: "schemas", Operation: "SELECT", Summary: "SELECT SCHEMATA"}
	stTables      = dbobs.Statement{Name: "tables", Operation: "SELECT", Summary: "SELECT TABLES VIEWS"}
	stPartitions  = dbobs.Statement{Name: "partitions", Operation: "SELECT", Summary: "SELECT PARTITIONS"}
	stColumns     = dbobs.Statement{Name: "columns", Operation: "SELECT", Summary: "SELECT COLUMNS TABLES KEY_COLUMN_USAGE"}
	stConstraints = dbobs.Statement{Name: "constraints", Operation: "SELECT", Summary: "SELECT KEY_COLUMN_USAGE REFERENTIAL_CONSTRAINTS"}
	stIndexes     = dbobs.Statement{Name: "indexes", Operation: "SELECT", Summary: "SELECT STATISTICS"}
	stRoutines    = dbobs.Statement{Name: "routines", Operation: "SELECT", Summary: "SELECT ROUTINES PARAMETERS"}
	stWarnings    = dbobs.Statement{Name: "warnings", Operation: "SHOW", Summary: "SHOW WARNINGS"}
	stPlan        = dbobs.Statement{Name: "plan", Operation: "SELECT", Summary: "SELECT TABLES SCHEMATA"}
	stTLSStatus   = dbobs.Statement{Name: "tls_status", Operation: "SHOW", Summary: "SHOW SESSION STATUS"}
	stSchemaNames = dbobs.Statement{Name: "schema_names", Operation: "SELECT", Summary: "SELECT SCHEMATA"}
	stTableNames  = dbobs.Statement{Name: "table_names", Operation: "SELECT", Summary: "SELECT TABLES"}
	stListing     = dbobs.Statement{Name: "listing", Operation: "SELECT", Summary: "SELECT SCHEMATA SCHEMA_PRIVILEGES USER_PRIVILEGES"}
)

// Statements is every statement the connector may send.
func Statements() []dbobs.Statement {
	return []dbobs.Statement{stProbe, stSchemas, stTables, stPartitions, stColumns, stConstraints, stIndexes, stRoutines,
		stWarnings, stPlan, stTLSStatus, stSchemaNames, stTableNames, stListing}
}

// Observed returns an Opener whose connectors report every statement and
// connection to obs (a span each, and the source metrics); it declares
// the connector's series. Open is the same without observation.
func Observed(obs *dbobs.Observer) connector.Opener {
	obs.Declare(Kind, Statements())
	return func(_ context.Context, src connector.Source, creds connector.Credentials) (connector.Connector, error) {
		return openObserved(src, creds, obs)
	}
}

// Values of db.system.name: the probe tells which server answered; until
// then a statement is MySQL's.
const (
	systemMySQL   = "mysql"
	systemMariaDB = "mariadb"
)

func (v version) system() string {
	if v.mariaDB {
		return systemMariaDB
	}
	return systemMySQL
}

// target is what the spans of cfg's connections carry: the address the
// driver dials and the session's default schema, never the DSN.
func target(cfg *mysqldrv.Config) dbobs.Target {
	t := dbobs.Target{Connector: Kind, System: systemMySQL, Namespace: cfg.DBName, Classify: classify}
	if cfg.Net == "unix" {
		t.Address = cfg.Addr
		return t
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		t.Address = cfg.Addr
		return t
	}
	t.Address = host
	t.Port, _ = strconv.Atoi(port)
	return t
}

// classify is the server's error number and what it means, in the words
// of the connector's connect and filter messages where it has them.
func classify(err error) (code, meaning string) {
	var myErr *mysqldrv.MySQLError
	if !errors.As(err, &myErr) {
		return "", ""
	}
	code = strconv.Itoa(int(myErr.Number))
	switch myErr.Number {
	case 1044, 1142, 1143, 1227:
		meaning = "access denied"
	case erRegexpError:
		meaning = "the server's regular expression engine refused a filter pattern"
	case 1040, 1053, 1205, 1213:
		meaning = "the server cannot serve the statement now (error " + code + ")"
	case 1226:
		meaning = "the account exceeded a resource limit"
	case 1104:
		meaning = "the statement would examine more rows than max_join_size allows"
	case 1969, 3024:
		meaning = "the statement ran longer than the server's statement time limit"
	default:
		meaning = "server error " + code
	}
	return code, meaning
}
