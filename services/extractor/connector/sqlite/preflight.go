package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// MinVersion is the oldest SQLite library the catalog statements run on:
// json_group_array(... ORDER BY ...) needs 3.44 (pragma_table_list 3.37).
// The library is compiled into the agent, so this fails only for a build
// against an older one; the file itself may have been written by any
// SQLite 3.
const MinVersion = "3.44.0"

const minVersionNumber = 3044000

// Preflight reports what an extraction would meet. Every check reads
// through one read transaction.
func (c *Connector) Preflight(ctx context.Context) []connector.Check {
	checks := []connector.Check{{
		Name: "authentication", Status: connector.Pass,
		Detail: fmt.Sprintf("opened %s read-only (SQLite files have no authentication; the file's permissions decide)", c.loc.path),
	}}
	q := c.session(c.db)
	tx, err := q.begin(ctx)
	if err != nil {
		return append(checks, connector.Check{
			Name: "catalog_privileges", Status: connector.Fail,
			Detail:      fmt.Sprintf("cannot start a read transaction: %v", err),
			Remediation: "make sure the file stays readable by the agent's user and is not held locked by a writer",
		})
	}
	defer q.rollback(ctx, tx) // read-only: nothing to commit
	checks = append(checks, c.versionCheck(ctx, q))
	catalog := c.catalogCheck(ctx, q)
	checks = append(checks, catalog)
	if catalog.Status == connector.Fail {
		return checks
	}
	checks = append(checks, c.readableCheck(ctx, q), c.statisticsCheck(ctx, q), connector.Check{
		Name: "lineage", Status: connector.Warn,
		Detail: "SQLite records no dependencies between views and tables, so no view lineage is extracted " +
			"(the connector does not guess it from view SQL)",
		Remediation: "nothing to fix: lineage is not available for SQLite sources",
	})
	return append(checks, c.filterChecks(ctx, q)...)
}

func (c *Connector) versionCheck(ctx context.Context, q *session) connector.Check {
	ck := connector.Check{Name: "server_version"}
	var lib string
	if err := q.one(ctx, stVersion, `SELECT sqlite_version()`, &lib); err != nil {
		ck.Status, ck.Detail = connector.Fail, fmt.Sprintf("cannot read the SQLite library version: %v", err)
		ck.Remediation = "report this to the agent's maintainers"
		return ck
	}
	libNum := versionNumber(lib)
	ck.Detail = "SQLite library " + lib
	if !c.header.empty {
		ck.Detail += fmt.Sprintf("; file last written by SQLite %s", formatVersion(c.header.writerVersion))
	}
	switch {
	case libNum < minVersionNumber:
		ck.Status = connector.Fail
		ck.Remediation = fmt.Sprintf("this agent was built with SQLite %s; the connector needs %s or later: use an official agent build", lib, MinVersion)
	case !c.header.empty && c.header.writerVersion > libNum:
		ck.Status = connector.Warn
		ck.Remediation = "the file was last written by a newer SQLite than the agent's; features added since may not be readable: " +
			"upgrade the agent if extraction fails"
	default:
		ck.Status = connector.Pass
	}
	return ck
}

// catalogCheck reads the schema table, which is all the connector needs.
func (c *Connector) catalogCheck(ctx context.Context, q *session) connector.Check {
	ck := connector.Check{Name: "catalog_privileges"}
	var tables, views, virtual int
	err := q.one(ctx, stCatalog, `SELECT
  count(*) FILTER (WHERE type IN ('table', 'shadow')),
  count(*) FILTER (WHERE type = 'view'),
  count(*) FILTER (WHERE type = 'virtual')
FROM pragma_table_list WHERE schema <> 'temp' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`, &tables, &views, &virtual)
	if err != nil {
		ck.Status, ck.Detail = connector.Fail, fmt.Sprintf("cannot read the schema of %s: %v", c.loc.path, c.explain(err))
		ck.Remediation = "grant the agent's user read permission on the file (and on its -wal/-shm files and directory in WAL mode)"
		return ck
	}
	ck.Status = connector.Pass
	ck.Detail = fmt.Sprintf("can read the schema of %s: %d tables, %d views, %d virtual tables", c.loc.path, tables, views, virtual)
	return ck
}

// readableCheck runs the columns statement once, as Extract will.
func (c *Connector) readableCheck(ctx context.Context, q *session) connector.Check {
	ck := connector.Check{Name: "table_definitions"}
	err := q.each(ctx, stColumns, qColumns, func(*sql.Rows) error { return nil }, 1) // text cut to 1 character: only readability counts
	if err == nil {
		ck.Status, ck.Detail = connector.Pass, "the columns of every selected table and view can be read"
		return ck
	}
	ck.Status = connector.Fail
	found, total, ferr := findBroken(ctx, q)
	if ferr != nil || total == 0 {
		ck.Detail = fmt.Sprintf("reading the columns failed: %v", err)
		ck.Remediation = "fix the object named in the error, or exclude it with exclude_tables"
		return ck
	}
	ck.Detail = fmt.Sprintf("%d views or virtual tables cannot be read", total)
	ck.Remediation = describeBroken(found, total)
	return ck
}

func (c *Connector) statisticsCheck(ctx context.Context, q *session) connector.Check {
	ck := connector.Check{Name: "statistics"}
	var has bool
	if err := q.one(ctx, stHasStatistics, `SELECT EXISTS (SELECT 1 FROM pragma_table_list('sqlite_stat1') WHERE schema = 'main')`, &has); err != nil {
		ck.Status, ck.Detail = connector.Warn, fmt.Sprintf("cannot tell whether the file has statistics: %v", err)
		ck.Remediation = "row counts may be missing from table_stats"
		return ck
	}
	if has {
		ck.Status, ck.Detail = connector.Pass, "row counts come from sqlite_stat1 (as of the file's last ANALYZE)"
		return ck
	}
	ck.Status = connector.Warn
	ck.Detail = "the file has no sqlite_stat1 table, so table_stats.row_count will be null (counting rows would read every table)"
	ck.Remediation = "run ANALYZE on the database from the application that owns it, if row counts are wanted"
	return ck
}

// versionNumber turns "3.45.1" into 3045001 (0 when unparseable).
func versionNumber(v string) int {
	parts := strings.SplitN(v, ".", 3)
	n := 0
	for i, mul := range []int{1000000, 1000, 1} {
		if i >= len(parts) {
			break
		}
		p, err := strconv.Atoi(parts[i])
		if err != nil {
			return 0
		}
		n += p * mul
	}
	return n
}
