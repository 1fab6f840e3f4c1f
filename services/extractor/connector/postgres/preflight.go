package postgres

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// MinServerMajor is the oldest PostgreSQL the queries run on: they use
// pg_proc.prokind and pg_index.indnkeyatts (11) and pg_attribute.attgenerated (12).
const MinServerMajor = 12

// Check names.
const (
	checkAuthentication    = "authentication"
	checkServerVersion     = "server_version"
	checkCatalogPrivileges = "catalog_privileges"
	checkDatabases         = "databases"
)

// catalogObjectsSQL lists the catalog tables and functions the extraction
// reads that the user may not use (by default every role may use all).
const catalogObjectsSQL = `
SELECT 'SELECT ON ' || t FROM unnest($1::text[]) AS t WHERE NOT has_table_privilege(t, 'SELECT')
UNION ALL
SELECT 'EXECUTE ON FUNCTION ' || f FROM unnest($2::text[]) AS f WHERE NOT has_function_privilege(f, 'EXECUTE')`

var (
	catalogTables = []string{
		"pg_catalog.pg_namespace", "pg_catalog.pg_class", "pg_catalog.pg_attribute", "pg_catalog.pg_attrdef",
		"pg_catalog.pg_constraint", "pg_catalog.pg_index", "pg_catalog.pg_am", "pg_catalog.pg_proc",
		"pg_catalog.pg_language", "pg_catalog.pg_depend", "pg_catalog.pg_rewrite", "pg_catalog.pg_inherits",
		"pg_catalog.pg_description", "pg_catalog.pg_database",
	}
	catalogFunctions = []string{
		"pg_catalog.pg_get_viewdef(oid, boolean)", "pg_catalog.pg_get_functiondef(oid)",
		"pg_catalog.pg_get_expr(pg_node_tree, oid)", "pg_catalog.pg_get_indexdef(oid, integer, boolean)",
		"pg_catalog.pg_get_constraintdef(oid, boolean)", "pg_catalog.pg_total_relation_size(regclass)",
		"pg_catalog.pg_stat_get_last_analyze_time(oid)", "pg_catalog.format_type(oid, integer)",
	}
)

// Preflight checks the connection, the server version, the privileges on
// every selected database and how much each filter pattern matches.
func (c *Connector) Preflight(ctx context.Context) []connector.Check {
	filters := c.filters.All()
	skipped := func(checks []connector.Check, why string) []connector.Check {
		for _, name := range []string{checkServerVersion, checkCatalogPrivileges} {
			if !hasCheck(checks, name) {
				checks = append(checks, connector.Check{Name: name, Status: connector.Fail,
					Detail: "not checked: " + why, Remediation: "fix the failing check above first"})
			}
		}
		for _, p := range filters {
			checks = append(checks, connector.Check{Name: filterCheckName(p), Status: connector.Warn,
				Detail: "not checked: " + why, Remediation: "fix the failing check above first"})
		}
		return checks
	}

	password, err := c.password(ctx)
	if err != nil {
		return skipped([]connector.Check{failCheck(checkAuthentication, err, "store the source's password in the secret store under the configured key")}, "no password")
	}
	main, err := c.dial(ctx, password, c.cfg.Database)
	if err != nil {
		return skipped([]connector.Check{failCheck(checkAuthentication, err, remediationOf(err))}, "cannot connect")
	}
	defer closeConn(ctx, main)
	_, isTLS := main.PgConn().Conn().(*tls.Conn)
	checks := []connector.Check{{
		Name: checkAuthentication, Status: connector.Pass,
		Detail: fmt.Sprintf("connected to %s as %q (database %s, TLS %s)", c.server(), c.cfg.User, c.cfg.Database, onOff(isTLS)),
	}}
	checks = append(checks, c.versionCheck(main))
	if checks[1].Status == connector.Fail {
		return skipped(checks, "server too old")
	}

	dbs, err := c.listDatabases(ctx, main, &connector.Stats{}, 0)
	if err != nil {
		return skipped(append(checks, failCheck(checkCatalogPrivileges, err, remediationOf(err))), "cannot list databases")
	}
	privCheck, usable := c.privilegeCheck(ctx, main, password, dbs)
	checks = append(checks, privCheck)
	if c.scopedByDSN {
		checks = append(checks, connector.Check{Name: checkDatabases, Status: connector.Pass,
			Detail: connector.DatabaseScopeDetail("database", c.src.Databases[0])})
	}
	if len(filters) > 0 {
		checks = append(checks, c.filterChecks(ctx, password, usable, filters)...)
	}
	return checks
}

func (c *Connector) versionCheck(conn *pgx.Conn) connector.Check {
	version := conn.PgConn().ParameterStatus("server_version")
	major := leadingInt(version)
	check := connector.Check{Name: checkServerVersion, Detail: "PostgreSQL " + version}
	if major < MinServerMajor {
		check.Status = connector.Fail
		check.Remediation = fmt.Sprintf("the connector needs PostgreSQL %d or later; upgrade the server", MinServerMajor)
		return check
	}
	check.Status = connector.Pass
	return check
}

// privilegeCheck connects to every selected database and checks the
// catalog objects the extraction uses; it returns the databases that can be
// read.
func (c *Connector) privilegeCheck(ctx context.Context, main *pgx.Conn, password secret.Value, dbs []database) (connector.Check, []string) {
	check := connector.Check{Name: checkCatalogPrivileges}
	if len(c.src.Databases) > 0 {
		if _, err := c.selectDatabases(dbs); err != nil {
			check.Status, check.Detail, check.Remediation = connector.Fail, err.Error(), remediationOf(err)
			return check, nil
		}
	}
	var usable, denied, problems, grants []string
	role := pgx.Identifier{c.cfg.User}.Sanitize()
	for _, d := range dbs {
		if !databaseMayMatch(c.filters, d.name) {
			continue
		}
		if !d.canConnect {
			denied = append(denied, d.name)
			continue
		}
		missing, err := c.missingCatalogPrivileges(ctx, main, password, d.name)
		switch {
		case err != nil && c.droppedMeanwhile(err):
		case err != nil:
			problems = append(problems, err.Error())
		case len(missing) > 0:
			problems = append(problems, fmt.Sprintf("in database %s the user lacks %s", d.name, strings.Join(missing, ", ")))
			for _, m := range missing {
				if g := "GRANT " + m + " TO " + role + ";"; !slices.Contains(grants, g) {
					grants = append(grants, g)
				}
			}
		default:
			usable = append(usable, d.name)
		}
	}
	switch {
	case len(problems) > 0:
		check.Status = connector.Fail
		check.Detail = strings.Join(problems, "; ")
		check.Remediation = "every role has these privileges by default; in the databases named, run " + strings.Join(grants, " ")
		if len(grants) == 0 {
			check.Remediation = "fix what the detail names"
		}
	case len(denied) > 0 && len(usable) == 0:
		err := c.connectPrivilegeError(denied)
		check.Status, check.Detail, check.Remediation = connector.Fail, err.Error(), remediationOf(err)
	case len(denied) > 0:
		err := c.connectPrivilegeError(denied)
		check.Status = connector.Warn
		check.Detail = fmt.Sprintf("can read the catalog of %s; skipping: %s", strings.Join(usable, ", "), err.Error())
		check.Remediation = remediationOf(err)
	default:
		check.Status = connector.Pass
		check.Detail = fmt.Sprintf("user %q can read the catalog of database(s) %s", c.cfg.User, strings.Join(usable, ", "))
	}
	return check, usable
}

func (c *Connector) missingCatalogPrivileges(ctx context.Context, main *pgx.Conn, password secret.Value, db string) ([]string, error) {
	conn := main
	if db != c.cfg.Database {
		var err error
		if conn, err = c.dial(ctx, password, db); err != nil {
			return nil, err
		}
		defer closeConn(ctx, conn)
	}
	rows, err := conn.Query(ctx, catalogObjectsSQL, catalogTables, catalogFunctions)
	if err != nil {
		return nil, c.readError("catalog privileges", db, err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, c.readError("catalog privileges", db, err)
	}
	return missing, nil
}

func failCheck(name string, err error, remediation string) connector.Check {
	return connector.Check{Name: name, Status: connector.Fail, Detail: err.Error(), Remediation: remediation}
}

func hasCheck(checks []connector.Check, name string) bool {
	for _, ch := range checks {
		if ch.Name == name {
			return true
		}
	}
	return false
}

func leadingInt(s string) int {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return n
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
