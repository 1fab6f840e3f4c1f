package postgres

// The catalog is read with a fixed set of statements, whatever the number
// of tables:
//
//	server:        1  databasesSQL (on the DSN's database)
//	per database: 11  BEGIN (repeatable read, read only), sessionSQL,
//	                  schemasSQL, columnsSQL, constraintsSQL, indexesSQL,
//	                  routinesSQL, lineageSQL, exportSnapshotSQL,
//	                  tablesSQL (tables and their statistics), COMMIT
//	per chunk of
//	ViewDefChunk views: 4 on a second connection: BEGIN (repeatable read,
//	                  read only), SET TRANSACTION SNAPSHOT (the first
//	                  transaction's), viewDefsSQL, COMMIT
//
// so an extraction sends QueriesFixed + QueriesPerDatabase × databases
// statements, plus QueriesPerViewChunk for every ViewDefChunk views of a
// database after the first ViewDefChunk (none when view_definition is excluded: then the
// snapshot is not exported and the per-database count is 10). Every
// per-database statement reads the same repeatable-read snapshot, so
// columns, constraints, lineage and view definitions describe the same
// catalog as the tables they belong to.
//
// View definitions are read apart because pg_get_viewdef locks every
// relation a view reads until the transaction ends: in the transaction
// that reads the tables, a catalog of many thousands of views filled the
// server's shared lock table ("out of shared memory", which
// max_locks_per_transaction bounds). Each chunk's transaction imports the
// first transaction's snapshot (pg_export_snapshot, as pg_dump's parallel
// workers do) and ends after at most ViewDefChunk views, which releases
// their locks. The chunks are read as the tables stream reaches them
// (both are ordered by schema and name), so neither side is buffered.
// pg_get_viewdef, like every pg_get_* function, prints the definition the
// system catalogs hold when it runs, in either transaction.
//
// Everything is read from pg_catalog rather than information_schema: it is
// faster, and information_schema hides objects the user does not own and has
// no notion of partitions, materialized views or index expressions.
const (
	QueriesFixed        = 1
	QueriesPerDatabase  = 11 + QueriesPerViewChunk
	QueriesPerViewChunk = 4
)

// sessionSQL bounds lock waits: pg_total_relation_size and pg_get_viewdef
// wait for a relation that DDL (ALTER TABLE, VACUUM FULL, ...) holds
// exclusively, and production DDL must neither stall the extraction nor
// queue behind it. JIT compilation never pays off for catalog queries.
// $1 is the lock timeout.
const sessionSQL = `SELECT set_config('lock_timeout', $1::text, true), set_config('jit', 'off', true)`

const defaultLockTimeout = "10s"

// Free text (comments, definitions, expressions) is cut in SQL with
// left(…, $n), $n being the Writer's MaxTextBytes + 1 characters, so a huge
// value never crosses the wire; the Writer then cuts it to MaxTextBytes
// bytes and marks it truncated (a character is up to 4 bytes, so the
// extra character is what tells it a value was longer).

// Parameters shared by the per-database statements. Patterns are passed as
// text[] (NULL when a list is not pushed down); see pushdown.go.
//
//	$1 database name   $2 schemas (Source.Schemas, exact names)
//	$3 include_schemas $4 exclude_schemas
//	$5 include_tables  $6 exclude_tables    $7 temp_tables
//	$8, $9 the partition's range of table names (Source.Tables: from,
//	before; NULL for an open end)
//
// The server may narrow, never decide: every row is re-checked in Go, so
// SQL must never drop a name a Go pattern keeps. Hence exclusions are
// applied in SQL only to names without a newline (Go's '.' does not match
// '\n' but PostgreSQL's does, so PostgreSQL could exclude a name the Go
// pattern keeps), and no pattern is applied in SQL in a SQL_ASCII
// database: there PostgreSQL's regex reads bytes where Go reads UTF-8
// characters ('.' matches one byte of "é"), which would drop names either
// way (see byteRegexSQL).
const (
	userSchemaSQL = `n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'`

	// byteRegexSQL is true in a database whose regex reads bytes.
	byteRegexSQL = `getdatabaseencoding() = 'SQL_ASCII'`

	// otherOrderSQL is true in a database whose names' bytes may sort
	// otherwise than their UTF-8 (what Go compares a table range by): the
	// range is then applied in Go only.
	otherOrderSQL = `getdatabaseencoding() NOT IN ('UTF8', 'SQL_ASCII')`

	schemaFilterSQL = userSchemaSQL + `
  AND ($2::text[] IS NULL OR n.nspname::text = ANY ($2::text[]))
  AND ($3::text[] IS NULL OR ` + byteRegexSQL + ` OR ($1::text || '.' || n.nspname) ~ ANY ($3::text[]))
  AND ($4::text[] IS NULL OR ` + byteRegexSQL + ` OR NOT (($1::text || '.' || n.nspname) ~ ANY ($4::text[]))
       OR strpos($1::text || '.' || n.nspname, E'\n') > 0)`

	// tableOnlyFilterSQL is the table part of tableFilterSQL (the plan
	// joins tables to schemas with it).
	tableOnlyFilterSQL = `
  AND ($5::text[] IS NULL OR ` + byteRegexSQL + ` OR (n.nspname || '.' || c.relname) ~ ANY ($5::text[]))
  AND ($6::text[] IS NULL OR ` + byteRegexSQL + ` OR NOT ((n.nspname || '.' || c.relname) ~ ANY ($6::text[]))
       OR strpos(n.nspname || '.' || c.relname, E'\n') > 0)
  AND ($7::text[] IS NULL OR ` + byteRegexSQL + ` OR NOT (c.relname ~ ANY ($7::text[])) OR strpos(c.relname, E'\n') > 0)
  AND ($8::text IS NULL OR ` + otherOrderSQL + ` OR c.relname::text >= $8::text COLLATE "C")
  AND ($9::text IS NULL OR ` + otherOrderSQL + ` OR c.relname::text < $9::text COLLATE "C")`

	tableFilterSQL = schemaFilterSQL + tableOnlyFilterSQL

	// Relation kinds the catalog calls tables: table, view, materialized
	// view, foreign table, partitioned table.
	tableKindsSQL = `c.relkind IN ('r', 'v', 'm', 'f', 'p')`
)

// databasesSQL lists connectable, non-template databases; $1 limits it to
// Source.Databases (NULL: all); $2 caps comments (characters).
const databasesSQL = `
SELECT d.datname, pg_get_userbyid(d.datdba), left(shobj_description(d.oid, 'pg_database'), $2::int),
       has_database_privilege(d.oid, 'CONNECT')
FROM pg_database d
WHERE NOT d.datistemplate AND d.datallowconn
  AND ($1::text[] IS NULL OR d.datname = ANY ($1::text[]))
ORDER BY d.datname`

// $5 caps comments (characters).
const schemasSQL = `
SELECT n.nspname, pg_get_userbyid(n.nspowner), left(d.description, $5::int)
FROM pg_namespace n
LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
WHERE ` + schemaFilterSQL + `
ORDER BY n.nspname`

// tablesSQL: $10 caps free text. PostgreSQL records no creation or
// alteration time for relations, so those stay null. Its order is
// viewDefsSQL's: the view definitions are merged into its rows.
// reltuples is -1 until the first VACUUM/ANALYZE: unknown, not zero.
// Partitioned and foreign tables have no storage of their own, so no size.
const tablesSQL = `
SELECT n.nspname, c.relname, c.relkind, c.relispartition,
       pg_get_userbyid(c.relowner), left(d.description, $10::int),
       pn.nspname, pc.relname,
       CASE WHEN c.reltuples >= 0 AND c.relkind <> 'v' THEN c.reltuples::int8 END,
       CASE WHEN c.relkind IN ('r', 'm') THEN pg_total_relation_size(c.oid) END,
       greatest(pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE ` + tableKindsSQL + ` AND ` + tableFilterSQL + `
ORDER BY n.nspname, c.relname`

// exportSnapshotSQL names the extraction's snapshot for the view
// definition chunks (SET TRANSACTION SNAPSHOT).
const exportSnapshotSQL = `SELECT pg_export_snapshot()`

// ViewDefChunk bounds the views one transaction reads the definitions of,
// and with it the relation locks pg_get_viewdef holds at once: a view's
// own and those of every relation it reads (the default lock table holds
// 6,400).
const ViewDefChunk = 256

// viewDefsSQL reads the definitions of the views and materialized views
// tablesSQL lists, in its order, ViewDefChunk at a time: $10 caps free
// text; $11, $12 are the schema and name of the chunk's predecessor (NULL
// for the first chunk); $13 is ViewDefChunk.
const viewDefsSQL = `
SELECT n.nspname, c.relname, left(pg_get_viewdef(c.oid, true), $10::int)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND ` + tableFilterSQL + `
  AND ($11::name IS NULL OR (n.nspname, c.relname) > ($11::name, $12::name))
ORDER BY n.nspname, c.relname
LIMIT $13::int`

// columnsSQL computes the key flags in SQL (one pass over pg_constraint,
// hashed) so Go never holds a map of every table's keys. $10 selects default
// and generation expressions (pg_get_expr); $11 caps free text. It is not sorted: sorting wide
// rows of every column spills to disk on big catalogs, and the rows of a
// table arrive together anyway (pg_attribute is scanned in order).
const columnsSQL = `
WITH keycols AS (
  SELECT k.conrelid, k.attnum, bool_or(k.contype = 'p') AS pk, bool_or(k.contype = 'f') AS fk
  FROM (SELECT conrelid, contype, unnest(conkey) AS attnum
        FROM pg_constraint WHERE contype IN ('p', 'f')) k
  GROUP BY k.conrelid, k.attnum)
SELECT n.nspname, c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, a.attgenerated <> '',
       CASE WHEN $10::bool THEN left(pg_get_expr(ad.adbin, ad.adrelid), $11::int) END,
       coalesce(kc.pk, false), coalesce(kc.fk, false), left(d.description, $11::int)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN keycols kc ON kc.conrelid = a.attrelid AND kc.attnum = a.attnum
LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND ` + tableKindsSQL + ` AND ` + tableFilterSQL

// constraintsSQL lists primary, foreign, unique and check constraints with
// their columns in key order. Exclusion constraints have no place in the
// model (their index is reported with the indexes), and NOT NULL is a
// column property. A foreign key that references a partitioned table is
// cloned by PostgreSQL once per referenced partition on the same table;
// only the original is reported. $10 caps check clauses.
//
// The clone test is written "conparentid = 0 OR NOT EXISTS": as a plain NOT
// EXISTS the planner made it an anti-join it expected to keep one row,
// and so read every constraint of the database and looked up its table,
// for each partition (0.39 s of a 4,400-table partition of make bench's
// case b, against 0.14 s now that it starts from the partition's tables).
const constraintsSQL = `
SELECT n.nspname, c.relname, con.conname, con.contype,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
       rn.nspname, rc.relname,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord),
       CASE WHEN con.contype = 'c' THEN left(pg_get_constraintdef(con.oid, true), $10::int) END,
       con.confupdtype, con.confdeltype
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f', 'u', 'c') AND ` + tableKindsSQL + ` AND ` + tableFilterSQL + `
  AND (con.conparentid = 0 OR NOT EXISTS (SELECT 1 FROM pg_constraint pcon
                  WHERE pcon.oid = con.conparentid AND pcon.conrelid = con.conrelid))
ORDER BY n.nspname, c.relname, con.conname`

// indexesSQL: key columns in order, a plain column by name and an
// expression as pg_get_indexdef prints it (INCLUDE columns are not keys).
// $10 caps expressions and predicates.
const indexesSQL = `
SELECT n.nspname, c.relname, ic.relname,
       ARRAY(SELECT CASE WHEN k.attnum <> 0 THEN a.attname::text
                         ELSE left(pg_get_indexdef(i.indexrelid, k.ord::int, true), $10::int) END
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.ord <= i.indnkeyatts
             ORDER BY k.ord),
       i.indisunique, i.indisprimary, am.amname, left(pg_get_expr(i.indpred, i.indrelid, true), $10::int)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE c.relkind IN ('r', 'm', 'p') AND ` + tableFilterSQL + `
ORDER BY n.nspname, c.relname, ic.relname`

// routinesSQL: aggregates and window functions are functions; $5 selects
// definitions (pg_get_functiondef, which refuses aggregates, so they have
// none). The identity arguments name the routine; the full argument list
// (with defaults) is reported. $6 caps free text (the identity arguments
// are part of the routine's qualified name and hold types only).
const routinesSQL = `
SELECT n.nspname, p.proname, p.prokind = 'p', l.lanname,
       pg_get_function_identity_arguments(p.oid), left(pg_get_function_arguments(p.oid), $6::int),
       CASE WHEN p.prokind <> 'p' THEN left(pg_get_function_result(p.oid), $6::int) END,
       CASE WHEN $5::bool AND p.prokind <> 'a' THEN left(pg_get_functiondef(p.oid), $6::int) END,
       left(d.description, $6::int)
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
WHERE ` + schemaFilterSQL + `
ORDER BY n.nspname, p.proname, 5`

// lineageSQL: a view or materialized view is a _RETURN rewrite rule whose
// dependencies (pg_depend) are every relation its query reads. Sources in
// system schemas are left out, like every system object.
const lineageSQL = `
SELECT DISTINCT n.nspname, c.relname, sn.nspname, s.relname, s.relkind, s.relispartition
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_depend dep ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = r.oid
                  AND dep.refclassid = 'pg_class'::regclass
JOIN pg_class s ON s.oid = dep.refobjid
JOIN pg_namespace sn ON sn.oid = s.relnamespace
WHERE r.rulename = '_RETURN' AND c.relkind IN ('v', 'm') AND s.oid <> c.oid
  AND s.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND sn.nspname NOT LIKE 'pg\_%' AND sn.nspname <> 'information_schema'
  AND ` + tableFilterSQL + `
ORDER BY 1, 2, 3, 4`
