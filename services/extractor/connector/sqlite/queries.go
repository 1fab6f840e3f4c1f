package sqlite

// The catalog statements. Each reads one asset kind for every table at once
// by joining pragma_table_list with the table-valued pragma functions, so
// their number never depends on the number of tables. Every one starts from
// the same set of selected tables: user tables, views and virtual tables of
// every schema but temp (sqlite_* names are SQLite's own and cannot be
// created by users), already filtered by the job's patterns.
//
// sqlite_schema and sqlite_stat1 are read from "main" only: the connector
// opens exactly one file and attaches nothing, so main is the only schema
// pragma_database_list can return besides temp.

const selectedTables = `WITH t AS (
  SELECT schema, name, type FROM pragma_table_list
  WHERE schema <> 'temp' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
    AND ` + fnTableIncluded + `(schema, name)
)
`

// qSchemas lists the schemas, and whether main has statistics (decides
// which qStats variant runs).
const qSchemas = `SELECT d.name,
  EXISTS (SELECT 1 FROM pragma_table_list('sqlite_stat1') s WHERE s.schema = d.name) AS has_stat1
FROM pragma_database_list d
WHERE d.name <> 'temp' AND ` + fnSchemaIncluded + `(d.name)
ORDER BY d.seq`

// Free text (view definitions, declared types, default expressions) is
// cut in SQL with substr(…, 1, ?1), ?1 being the Writer's MaxTextBytes + 1
// characters, so a huge value is never copied out of SQLite; the Writer
// then cuts it to MaxTextBytes bytes and marks it truncated.

// qTables: tables, views and virtual tables, with the view's CREATE VIEW
// text as its definition.
const qTables = selectedTables + `SELECT t.schema, t.name, t.type, substr(s.sql, 1, ?1)
FROM t LEFT JOIN main.sqlite_schema s
  ON t.schema = 'main' AND t.type = 'view' AND s.type = 'view' AND s.name = t.name
ORDER BY t.schema, t.name`

// qColumns: every column, hidden ones (generated columns, virtual-table
// hidden columns) included. is_fk: the column is the child side of a
// foreign key. rowid_alias: an INTEGER PRIMARY KEY of a rowid table, which
// can never be NULL although no NOT NULL is declared; SQLite makes it an
// alias only when it is the sole key column and no separate primary-key
// index exists.
const qColumns = selectedTables + `SELECT t.schema, t.name, c.cid, c.name, substr(c.type, 1, ?1), c."notnull",
  substr(c.dflt_value, 1, ?1), c.pk, c.hidden,
  t.type <> 'view' AND EXISTS (
    SELECT 1 FROM pragma_foreign_key_list(t.name, t.schema) f WHERE f."from" = c.name COLLATE NOCASE) AS is_fk,
  t.type IN ('table', 'shadow') AND c.pk = 1 AND upper(c.type) = 'INTEGER'
    AND NOT EXISTS (SELECT 1 FROM pragma_table_xinfo(t.name, t.schema) o WHERE o.pk = 2)
    AND NOT EXISTS (SELECT 1 FROM pragma_index_list(t.name, t.schema) i WHERE i.origin = 'pk') AS rowid_alias
FROM t JOIN pragma_table_xinfo(t.name, t.schema) c
ORDER BY t.schema, t.name, c.cid`

// qConstraints: primary keys (columns in key order), UNIQUE constraints
// (the automatic indexes SQLite creates for them, origin 'u') and foreign
// keys (grouped by id, columns in declaration order). SQLite keeps no names
// for primary and foreign keys, so they are named the PostgreSQL way:
// "{table}_pkey" and "{table}_{columns}_fkey", with "_{id}" appended when
// two foreign keys of a table share their columns. A foreign key written
// without a column list references the parent's primary key; those columns
// are resolved here. The parent table name is given the case it was
// created with when it exists: joined with every table's name, listed
// once (MATERIALIZED, so SQLite indexes it for the join), not looked up
// per foreign key with pragma_table_list(name), which lists every table
// each time (4,000 tables: 12.5 s, now 0.14 s; 50,000: half an hour).
const qConstraints = selectedTables + `, pk AS (
  SELECT t.schema, t.name AS tbl, 'primary_key' AS ctype, t.name || '_pkey' AS cname,
    json_group_array(c.name ORDER BY c.pk) AS cols,
    NULL AS ref_table, json_array() AS ref_cols, NULL AS on_update, NULL AS on_delete
  FROM t JOIN pragma_table_xinfo(t.name, t.schema) c
  WHERE t.type IN ('table', 'shadow') AND c.pk > 0
  GROUP BY t.schema, t.name
), uq AS (
  SELECT t.schema, t.name AS tbl, 'unique' AS ctype, i.name AS cname,
    (SELECT json_group_array(x.name ORDER BY x.seqno) FROM pragma_index_xinfo(i.name, t.schema) x WHERE x.key = 1) AS cols,
    NULL AS ref_table, json_array() AS ref_cols, NULL AS on_update, NULL AS on_delete
  FROM t JOIN pragma_index_list(t.name, t.schema) i
  WHERE t.type IN ('table', 'shadow') AND i.origin = 'u'
), named AS MATERIALIZED (
  SELECT schema, name FROM pragma_table_list WHERE schema <> 'temp'
), fk AS (
  SELECT t.schema, t.name AS tbl, f.id,
    json_group_array(f."from" ORDER BY f.seq) AS cols,
    group_concat(f."from", '_' ORDER BY f.seq) AS col_names,
    coalesce(r.name, f."table") AS ref_table,
    json_group_array(coalesce(f."to",
      (SELECT p.name FROM pragma_table_xinfo(f."table", t.schema) p WHERE p.pk = f.seq + 1)) ORDER BY f.seq) AS ref_cols,
    f.on_update, f.on_delete
  FROM t JOIN pragma_foreign_key_list(t.name, t.schema) f
    LEFT JOIN named r ON r.schema = t.schema AND r.name = f."table" COLLATE NOCASE
  WHERE t.type IN ('table', 'shadow')
  GROUP BY t.schema, t.name, f.id
)
SELECT schema, tbl, ctype, cname, cols, ref_table, ref_cols, on_update, on_delete FROM pk
UNION ALL
SELECT schema, tbl, ctype, cname, cols, ref_table, ref_cols, on_update, on_delete FROM uq
UNION ALL
SELECT schema, tbl, 'foreign_key',
  tbl || '_' || col_names || '_fkey' ||
    CASE WHEN count(*) OVER (PARTITION BY schema, tbl, col_names) > 1 THEN '_' || id ELSE '' END,
  cols, ref_table, ref_cols, on_update, on_delete
FROM fk
ORDER BY 1, 2, 4`

// qIndexes: every index, the automatic ones behind PRIMARY KEY and UNIQUE
// included. Key columns in order; an expression key is reported as
// "(expression)" and a rowid key as "rowid" because SQLite exposes neither
// as a column name.
const qIndexes = selectedTables + `SELECT t.schema, t.name, i.name, i."unique", i.origin,
  (SELECT json_group_array(CASE x.cid WHEN -2 THEN '(expression)' WHEN -1 THEN 'rowid' ELSE x.name END ORDER BY x.seqno)
   FROM pragma_index_xinfo(i.name, t.schema) x WHERE x.key = 1) AS cols
FROM t JOIN pragma_index_list(t.name, t.schema) i
WHERE t.type IN ('table', 'shadow')
ORDER BY t.schema, t.name, i.name`

// qStats* give one row per table: the row count ANALYZE recorded in
// sqlite_stat1 (the first number of an index's stat is the number of rows
// it covers; the largest over a table's entries is the table's count, as a
// partial index covers fewer), or NULL where the table was never analyzed.
// qStatsNone runs when sqlite_stat1 does not exist (naming it would fail).
const (
	qStatsFromStat1 = selectedTables + `SELECT t.schema, t.name,
  CASE WHEN t.schema = 'main' THEN
    (SELECT max(CAST(s.stat AS INTEGER)) FROM main.sqlite_stat1 s WHERE s.tbl = t.name) END
FROM t WHERE t.type IN ('table', 'shadow')
ORDER BY t.schema, t.name`
	qStatsNone = selectedTables + `SELECT t.schema, t.name, NULL
FROM t WHERE t.type IN ('table', 'shadow')
ORDER BY t.schema, t.name`
)

// qColumnsOf reads one table's columns; used only to name the tables whose
// columns SQLite cannot read after qColumns failed (see unreadable.go).
const qColumnsOf = `SELECT count(*) FROM pragma_table_xinfo(?, ?)`

// qUnreadableCandidates lists the views and virtual tables qColumns
// compiles (a plain table's columns are always readable).
const qUnreadableCandidates = selectedTables + `SELECT t.schema, t.name FROM t
WHERE t.type IN ('view', 'virtual') ORDER BY t.schema, t.name`
