package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// version is a server version with its flavour.
type version struct {
	mariaDB             bool
	major, minor, patch int
	raw                 string
}

func (v version) String() string {
	if v.mariaDB {
		if strings.Contains(v.raw, "MariaDB") {
			return v.raw
		}
		return "MariaDB " + v.raw
	}
	return "MySQL " + v.raw
}

func (v version) atLeast(major, minor, patch int) bool {
	if v.major != major {
		return v.major > major
	}
	if v.minor != minor {
		return v.minor > minor
	}
	return v.patch >= patch
}

// Minimum versions: below them information_schema lacks columns the
// queries read (GENERATION_EXPRESSION, PARAMETERS.ROUTINE_TYPE).
const (
	minMariaDB = "10.3"
	minMySQL   = "5.7"
)

func (v version) supported() bool {
	if v.mariaDB {
		return v.atLeast(10, 3, 0)
	}
	return v.atLeast(5, 7, 0)
}

func (v version) minimum() string {
	if v.mariaDB {
		return "MariaDB " + minMariaDB
	}
	return "MySQL " + minMySQL
}

// regexPushdown reports whether the engine's REGEXP is character-aware
// (MariaDB's PCRE, MySQL 8's ICU) and so may filter names in SQL. MySQL
// 5.7's Henry Spencer regex works on bytes and could drop a multi-byte name
// the Go pattern keeps.
func (v version) regexPushdown() bool {
	return v.mariaDB || v.atLeast(8, 0, 4)
}

// parseVersion reads VERSION() output such as "10.11.6-MariaDB-0+deb12u1",
// "8.0.36" or "5.7.44-log".
func parseVersion(s string) (version, error) {
	v := version{raw: s, mariaDB: strings.Contains(strings.ToLower(s), "mariadb")}
	num, _, _ := strings.Cut(s, "-")
	parts := strings.SplitN(num, ".", 3)
	if len(parts) < 2 {
		return v, fmt.Errorf("cannot read server version %q", s)
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, fmt.Errorf("cannot read server version %q", s)
		}
		nums[i] = n
	}
	v.major, v.minor, v.patch = nums[0], nums[1], nums[2]
	return v, nil
}

// serverInfo is what the first statement of Extract and Preflight learns.
type serverInfo struct {
	version version
	user    string // CURRENT_USER(), "name@host"
	// visibleSchemas counts the schemas in scope the user can see; 0 means
	// missing privileges (information_schema hides what one cannot use).
	visibleSchemas int
	// Catalog features differ by engine and version; they are detected from
	// information_schema itself rather than guessed from the version.
	schemaComment     bool // SCHEMATA.SCHEMA_COMMENT (MariaDB 10.5+)
	checkConstraints  bool // CHECK_CONSTRAINTS (MariaDB 10.2+, MySQL 8.0.16+)
	checkHasTableName bool // CHECK_CONSTRAINTS.TABLE_NAME (MariaDB)
	viewTableUsage    bool // VIEW_TABLE_USAGE (MySQL 8.0.13+): lineage
	indexExpression   bool // STATISTICS.EXPRESSION (MySQL 8.0.13+): functional indexes
}

// hasISColumn is a scalar subquery: 1 when information_schema.table has column.
func hasISColumn(table, column string) string {
	return "(SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema'" +
		" AND TABLE_NAME = '" + table + "' AND COLUMN_NAME = '" + column + "')"
}

// probe is one statement: version, user, visible schema count and catalog
// features.
func probe(ctx context.Context, q *counter, sc scope) (serverInfo, error) {
	var w where
	sc.schemaList(&w, "SCHEMA_NAME")
	query := "SELECT VERSION(), CURRENT_USER()," +
		" (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE " + w.sql() + ")," +
		hasISColumn("SCHEMATA", "SCHEMA_COMMENT") + "," +
		hasISColumn("CHECK_CONSTRAINTS", "CHECK_CLAUSE") + "," +
		hasISColumn("CHECK_CONSTRAINTS", "TABLE_NAME") + "," +
		hasISColumn("VIEW_TABLE_USAGE", "VIEW_NAME") + "," +
		hasISColumn("STATISTICS", "EXPRESSION")
	var (
		info                            serverInfo
		raw                             string
		comment, check, checkTable, vtu int
		expr                            int
	)
	// The version is read inside the statement, so that its span already
	// names the server that answered (mysql or mariadb).
	err := q.one(ctx, stProbe, query, w.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&raw, &info.user, &info.visibleSchemas, &comment, &check, &checkTable, &vtu, &expr); err != nil {
			return err
		}
		v, err := parseVersion(raw)
		if err != nil {
			return err
		}
		info.version = v
		q.target.System = v.system()
		return nil
	})
	if err != nil {
		return info, err
	}
	info.schemaComment = comment > 0
	info.checkConstraints = check > 0
	info.checkHasTableName = checkTable > 0
	info.viewTableUsage = vtu > 0
	info.indexExpression = expr > 0
	return info, nil
}
