package mysql

import (
	"context"
	"fmt"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// ExtractQueries is the number of statements Extract sends, on every engine
// and whatever the number of schemas or tables:
//
//  1. probe: VERSION(), CURRENT_USER(), the number of visible schemas, and
//     which catalog tables/columns exist (checks, lineage, expressions)
//  2. schemas: SCHEMATA
//  3. tables: TABLES ∪ VIEWS (+ VIEW_TABLE_USAGE lineage where it exists),
//     also giving table_stats
//  4. partitions: PARTITIONS (partition rows and their table_stats)
//  5. columns: COLUMNS ⋈ TABLES (kind) ⋈ KEY_COLUMN_USAGE (PK/FK flags)
//  6. constraints: KEY_COLUMN_USAGE ⋈ REFERENTIAL_CONSTRAINTS
//     (∪ CHECK_CONSTRAINTS where it exists)
//  7. indexes: STATISTICS
//  8. routines: ROUTINES ∪ PARAMETERS
const ExtractQueries = 8

// ExtractWarningChecks is the number of SHOW WARNINGS statements Extract
// adds to ExtractQueries for these filters on a server where patterns are
// pushed into SQL (MariaDB, MySQL 8.0.4+): one after each statement that
// binds a pattern (see counter.regexWarnings). It does not grow with the
// catalog either.
func ExtractWarningChecks(f connector.Filters) int {
	n := 0
	if hasPatterns(f) {
		n += 5 // tables, partitions, columns, constraints, indexes
	}
	if len(f.IncludeSchemas)+len(f.ExcludeSchemas) > 0 {
		n++ // routines
	}
	return n
}

// PlanWarningChecks is the same for Plan (PlanQueries).
func PlanWarningChecks(f connector.Filters) int {
	if hasPatterns(f) {
		return 1
	}
	return 0
}

func hasPatterns(f connector.Filters) bool {
	return len(f.IncludeSchemas)+len(f.ExcludeSchemas)+len(f.IncludeTables)+len(f.ExcludeTables) > 0 || f.TempTables != ""
}

// reader reads one kind with one statement, streaming into w.
type reader struct {
	name string
	read func(ctx context.Context, q *counter, info serverInfo, w *model.Writer) error
}

// Extract streams the catalog into w. The caller flushes and closes w.
func (c *Conn) Extract(ctx context.Context, w *model.Writer) (connector.Stats, error) {
	start := time.Now()
	conn, err := c.connect(ctx)
	if err != nil {
		return connector.Stats{Elapsed: time.Since(start)}, err
	}
	defer conn.Close()
	q := c.counter(conn)
	stats := func() connector.Stats { return connector.Stats{Queries: q.n, Elapsed: time.Since(start)} }

	info, err := probe(ctx, q, c.scope)
	if err != nil {
		return stats(), fmt.Errorf("read server version and catalog features of %s: %w", c.addr, err)
	}
	if !info.version.supported() {
		return stats(), fmt.Errorf("%s at %s is not supported: the minimum is %s; upgrade the server", info.version, c.addr, info.version.minimum())
	}
	if info.visibleSchemas == 0 {
		detail, fix := c.noSchemas(info.user)
		return stats(), fmt.Errorf("read catalog of %s: %s; %s", c.addr, detail, fix)
	}
	sc := c.scope
	sc.pushdown = info.version.regexPushdown()

	readers := []reader{
		{"schemas", sc.readSchemas},
		{"tables", sc.readTables},
		{"partitions", sc.readPartitions},
		{"columns", sc.readColumns},
		{"constraints", sc.readConstraints},
		{"indexes", sc.readIndexes},
		{"routines", sc.readRoutines},
	}
	for _, r := range readers {
		if err := r.read(ctx, q, info, w); err != nil {
			return stats(), fmt.Errorf("read %s of %s at %s: %w", r.name, info.version, c.addr, err)
		}
	}
	return stats(), nil
}
