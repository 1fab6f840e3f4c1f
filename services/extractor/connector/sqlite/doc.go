// Package sqlite is the SQLite connector: it reads one SQLite 3 file's
// catalog through the pure-Go modernc.org/sqlite driver and streams every
// row into a model.Writer as it is scanned.
//
// # Opening
//
// Source.DSN is a file path or a SQLite file: URI (parameters allowed:
// mode=ro, immutable=1, nolock=1). Before SQLite sees the path the
// connector checks in Go that it exists, is a regular readable file and
// starts with the SQLite 3 header, so each mistake gets its own message.
// The file is then opened with mode=ro (SQLite refuses every write and never
// creates a missing file) plus PRAGMA query_only as a second guard, and
// busy_timeout set to the connect timeout so a writer's lock delays the
// extraction at most that long. Extraction never changes the file. A DSN
// carrying an encryption key is refused (connector.ErrInlinePassword
// unless inline secrets are allowed, then because encrypted files cannot be
// read). Credentials are not used: SQLite has no authentication.
//
// # Mapping to the metadata model
//
//   - One Database per file, named Source.Databases[0] if given, else the
//     file name without its extension ("shop.db" -> "shop").
//   - Schemas are pragma_database_list without temp: "main" (the connector
//     attaches nothing). Schema filters therefore match "{database}.main".
//     Source.Schemas (a partition's schema group) is applied by the table
//     filter function; a group without "main" extracts nothing, not even
//     the database row. Plan reports the one database in one statement.
//   - pragma_table_list types: table -> "table", view -> "view" (its CREATE
//     VIEW text as view_definition), virtual -> "foreign" (rows come from a
//     module's code, like a foreign table's), shadow (the tables a virtual
//     table stores its data in) -> "table". sqlite_* tables are SQLite's own
//     and are never emitted.
//   - Columns come from pragma_table_xinfo, hidden ones included. data_type
//     is the declared type ("" when none was declared); is_nullable is false
//     for NOT NULL columns and for a rowid alias (INTEGER PRIMARY KEY);
//     hidden 2/3 are generated columns, whose generation_expression stays
//     null: SQLite keeps it only in the CREATE TABLE text, which is not
//     parsed. is_primary_key and is_foreign_key are computed in SQL.
//   - Constraints: primary keys ("{table}_pkey", columns in key order),
//     UNIQUE constraints (named after the automatic index SQLite creates,
//     origin 'u') and foreign keys ("{table}_{columns}_fkey", "_{id}" added
//     when two share their columns; a reference without a column list is
//     resolved to the parent's primary key). SQLite exposes no names for
//     primary and foreign keys, hence the PostgreSQL-style names. CHECK
//     constraints exist only in the CREATE TABLE text and are not emitted.
//   - Indexes from pragma_index_list/pragma_index_xinfo, the automatic ones
//     included; origin 'pk' is is_primary; method is always "btree"; an
//     expression key is listed as "(expression)"; a partial index's
//     predicate is null (it is only in the CREATE INDEX text).
//   - No routines (SQLite has none) and no lineage: SQLite records no
//     dependencies between views and tables and the connector does not
//     guess them from SQL; Preflight's "lineage" check warns.
//   - table_stats (tables only): row_count from sqlite_stat1 as of the
//     file's last ANALYZE, null when the file has no statistics (counting
//     rows would read every table) — Preflight's "statistics" check warns.
//     total_bytes and last_analyzed are null.
//
// # Statements
//
// Extract sends ExtractQueries (8) statements whatever the number of
// tables, all in one read transaction (one consistent snapshot): BEGIN;
// schemas (pragma_database_list, and whether sqlite_stat1 exists); tables
// (pragma_table_list + sqlite_schema); columns (pragma_table_xinfo, with
// pragma_foreign_key_list and pragma_index_list for the flags); constraints
// (primary, unique and foreign keys in one UNION ALL); indexes
// (pragma_index_list + pragma_index_xinfo); statistics (sqlite_stat1, or a
// NULL variant when it is missing); COMMIT. Each joins pragma_table_list
// with the table-valued pragma functions, so one statement covers every
// table. See queries.go.
//
// Filters are pushed down without binding patterns: SQLite has no regular
// expressions, so each connection gets two SQL functions
// (secure_agent_schema_included, secure_agent_table_included) that run the
// compiled Go patterns, registered on a driver private to the connector.
// SQL and Go therefore always agree, and an excluded table's pragmas never
// run — which is how a user gets past a broken view: SQLite keeps views
// whose tables were dropped and virtual tables whose module is missing, and
// reading their columns fails. Extract's error and Preflight's
// "table_definitions" check then name each such object (found with one
// statement per view, only after the failure) and suggest exclude_tables.
//
// Minimum library version: MinVersion (3.44); the library is compiled in.
package sqlite
