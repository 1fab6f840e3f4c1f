package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Check names.
const (
	CheckAuthentication    = "authentication"
	CheckServerVersion     = "server_version"
	CheckTLS               = "tls"
	CheckCatalogPrivileges = "catalog_privileges"
	CheckLineage           = "lineage"
	CheckDatabases         = "databases"
)

// FilterCheckName names the check of one filter pattern.
func FilterCheckName(p connector.Pattern) string { return "filter " + p.Where + " " + p.Anchored() }

// Preflight checks the connection, the server version, TLS, what the user
// can see, lineage support and each filter pattern. It stops after the
// first check that makes the rest meaningless.
func (c *Conn) Preflight(ctx context.Context) []connector.Check {
	conn, err := c.connect(ctx)
	if err != nil {
		return []connector.Check{failed(CheckAuthentication, err)}
	}
	defer conn.Close()
	q := c.counter(conn)

	info, err := probe(ctx, q, c.scope)
	if err != nil {
		return []connector.Check{
			{Name: CheckAuthentication, Status: connector.Pass, Detail: fmt.Sprintf("connected to %s as user %q", c.addr, c.user)},
			{Name: CheckServerVersion, Status: connector.Fail, Detail: "read the server version: " + err.Error(),
				Remediation: "check that the server is MySQL " + minMySQL + "+ or MariaDB " + minMariaDB + "+ and that the user may query information_schema"},
		}
	}
	checks := []connector.Check{
		{Name: CheckAuthentication, Status: connector.Pass, Detail: fmt.Sprintf("logged in to %s as %s", c.addr, info.user)},
		versionCheck(info.version),
	}
	if !info.version.supported() {
		return checks
	}
	checks = append(checks, c.tlsCheck(ctx, q))

	schemaCheck, schemaFilters := c.schemaChecks(ctx, q, info)
	checks = append(checks, schemaCheck, lineageCheck(info))
	if c.scope.scopedByDSN {
		checks = append(checks, connector.Check{Name: CheckDatabases, Status: connector.Pass,
			Detail: connector.DatabaseScopeDetail("schema", c.scope.schemas[0])})
	}
	checks = append(checks, schemaFilters...)
	return append(checks, c.tableFilterChecks(ctx, q)...)
}

func failed(name string, err error) connector.Check {
	var ce *connectError
	if errors.As(err, &ce) {
		return connector.Check{Name: name, Status: connector.Fail, Detail: ce.detail(), Remediation: ce.fix}
	}
	return connector.Check{Name: name, Status: connector.Fail, Detail: err.Error()}
}

func versionCheck(v version) connector.Check {
	if !v.supported() {
		return connector.Check{Name: CheckServerVersion, Status: connector.Fail,
			Detail:      fmt.Sprintf("%s is older than the minimum %s", v, v.minimum()),
			Remediation: "upgrade the server to " + v.minimum() + " or newer"}
	}
	detail := v.String()
	if !v.regexPushdown() {
		detail += " (filters are applied by the agent only: this version's REGEXP is not multi-byte safe)"
	}
	return connector.Check{Name: CheckServerVersion, Status: connector.Pass, Detail: detail}
}

func (c *Conn) tlsCheck(ctx context.Context, q *counter) connector.Check {
	var name, cipher string
	err := q.one(ctx, stTLSStatus, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", nil, func(rows *sql.Rows) error {
		return rows.Scan(&name, &cipher)
	})
	if err != nil {
		return connector.Check{Name: CheckTLS, Status: connector.Warn, Detail: "cannot read the session's TLS status: " + err.Error(),
			Remediation: "make sure the server offers TLS; set require_tls to refuse plaintext connections"}
	}
	switch {
	case cipher != "":
		return connector.Check{Name: CheckTLS, Status: connector.Pass, Detail: "connection encrypted with " + cipher}
	case strings.HasPrefix(c.addr, "/"):
		return connector.Check{Name: CheckTLS, Status: connector.Pass, Detail: "local unix socket " + c.addr + ", not encrypted"}
	default:
		return connector.Check{Name: CheckTLS, Status: connector.Warn,
			Detail:      "the connection is not encrypted: the server offers no TLS",
			Remediation: "enable TLS on the server (ssl_cert, ssl_key), then set require_tls on the source to refuse plaintext"}
	}
}

func lineageCheck(info serverInfo) connector.Check {
	if info.viewTableUsage {
		return connector.Check{Name: CheckLineage, Status: connector.Pass, Detail: "view lineage from information_schema.VIEW_TABLE_USAGE"}
	}
	return connector.Check{Name: CheckLineage, Status: connector.Warn,
		Detail: info.version.String() + " has no view dependency catalog (information_schema.VIEW_TABLE_USAGE), " +
			"so no view lineage is extracted; the agent does not guess it from view SQL",
		Remediation: "nothing to fix on the source; view lineage needs MySQL 8.0.13 or newer"}
}

// schemaChecks lists the visible schemas once: the privilege check and the
// schema filter checks are counted from the same stream.
func (c *Conn) schemaChecks(ctx context.Context, q *counter, info serverInfo) (connector.Check, []connector.Check) {
	patterns := append(append([]connector.Pattern(nil), c.scope.filters.IncludeSchemas...), c.scope.filters.ExcludeSchemas...)
	matches := make([]int, len(patterns))
	seen := map[string]bool{}
	visible := 0
	var cond where
	c.scope.schemaList(&cond, "SCHEMA_NAME")
	err := q.each(ctx, stSchemaNames, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE "+cond.sql(), cond.args, func(rows *sql.Rows) error {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if !c.scope.inList(name) {
			return nil
		}
		visible++
		if len(c.scope.schemas) > 0 {
			seen[name] = true
		}
		for i, p := range patterns {
			if p.Match(DatabaseName + "." + name) {
				matches[i]++
			}
		}
		return nil
	})
	if err != nil {
		return connector.Check{Name: CheckCatalogPrivileges, Status: connector.Fail, Detail: "list schemas: " + err.Error(),
			Remediation: "the user must be able to query information_schema; " + grantHint(info.user, c.scope.schemas)}, nil
	}
	var filters []connector.Check
	for i, p := range patterns {
		filters = append(filters, filterCheck(p, matches[i], visible, "schema", `"default.<schema>"`))
	}
	return c.privilegeCheck(info.user, visible, c.scope.missing(seen)), filters
}

func (c *Conn) privilegeCheck(user string, visible int, missing []string) connector.Check {
	check := connector.Check{Name: CheckCatalogPrivileges}
	switch {
	case visible == 0:
		check.Status = connector.Fail
		check.Detail, check.Remediation = c.noSchemas(user)
	case len(missing) > 0:
		check.Status = connector.Fail
		check.Detail = fmt.Sprintf("user %s sees %d of the %d expected schemas; missing: %s (they do not exist or the user has no privilege on them)",
			user, visible, len(c.scope.schemas), strings.Join(missing, ", "))
		check.Remediation = grantHint(user, missing)
	case len(c.scope.schemas) > 0:
		check.Status = connector.Pass
		check.Detail = fmt.Sprintf("user %s sees all %d expected schemas", user, visible)
	default:
		check.Status = connector.Pass
		check.Detail = fmt.Sprintf("user %s sees %d schemas", user, visible)
	}
	return check
}

// tableFilterChecks counts the table patterns' matches over the tables and
// views of the schema list, streaming their names.
func (c *Conn) tableFilterChecks(ctx context.Context, q *counter) []connector.Check {
	f := c.scope.filters
	patterns := append(append([]connector.Pattern(nil), f.IncludeTables...), f.ExcludeTables...)
	if f.TempTables != nil {
		patterns = append(patterns, *f.TempTables)
	}
	if len(patterns) == 0 {
		return nil
	}
	matches := make([]int, len(patterns))
	total := 0
	var cond where
	c.scope.schemaList(&cond, "TABLE_SCHEMA")
	query := "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE IN " + tableTypes + " AND " + cond.sql()
	err := q.each(ctx, stTableNames, query, cond.args, func(rows *sql.Rows) error {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			return err
		}
		if !c.scope.inList(schema) {
			return nil
		}
		total++
		for i, p := range patterns {
			name := schema + "." + table
			if p.Where == "temp_tables" {
				name = table
			}
			if p.Match(name) {
				matches[i]++
			}
		}
		return nil
	})
	var checks []connector.Check
	for i, p := range patterns {
		if err != nil {
			ck := connector.FilterCheck(p, -1)
			ck.Status, ck.Detail, ck.Remediation = connector.Warn, "cannot count matching tables: "+err.Error(), "check the catalog privileges"
			checks = append(checks, ck)
			continue
		}
		form := `"<schema>.<table>"`
		if p.Where == "temp_tables" {
			form = "the table name"
		}
		checks = append(checks, filterCheck(p, matches[i], total, "table", form))
	}
	return checks
}

func filterCheck(p connector.Pattern, matched, total int, noun, form string) connector.Check {
	check := connector.FilterCheck(p, matched)
	check.Status = connector.Pass
	check.Detail = fmt.Sprintf("%s pattern %s matches %d of %d %ss", p.Where, p.Source, matched, total, noun)
	if matched == 0 {
		check.Status = connector.Warn
		check.Remediation = fmt.Sprintf("the %s pattern %s matches no %s: it must match the whole of %s; fix or remove it",
			p.Where, p.Source, noun, form)
	}
	return check
}
