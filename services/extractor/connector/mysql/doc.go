// Package mysql is the MySQL and MariaDB connector: it reads a server's
// catalog from information_schema with a fixed number of bulk queries and
// streams every row into a model.Writer as it is scanned.
//
// # Mapping to the metadata model
//
// MySQL has no level between the server and a schema ("database" and
// "schema" are the same thing there), while the model has both. The
// connector therefore emits exactly one model Database per server, always
// named "default" (DatabaseName), and every MySQL schema/database as a model
// Schema under it:
//
//	{connection}/default/{mysql schema}/{table}[/{column}]
//
// The name is a constant, not the DSN's database or the server address,
// so qualified names stay the same when the DSN changes (another host name
// for the same server, another default database, a proxy). The connection
// qualified name is what identifies the server. Schema filters therefore
// match "default.<schema>", and Source.Databases lists MySQL schemas.
//
// Source.Databases empty means the schema the DSN names
// (user@tcp(host:3306)/sales reads sales only, as a PostgreSQL DSN naming a
// database does) or, when the DSN names none, every schema the user can see
// except information_schema, mysql, performance_schema and sys; ["*"] means
// every schema whatever the DSN names. Naming a system schema in
// Source.Databases includes it.
//
// Other mapping decisions:
//   - A partitioned table has table_kind "partitioned"; each partition is a
//     table row of kind "partition" named "{table}#P#{partition}" (and a
//     subpartition "{table}#P#{partition}#SP#{subpartition}", partition_of
//     its partition), the names MySQL itself uses for partition files.
//     Partitions carry their own table_stats but no columns: in MySQL they
//     share the table's columns.
//   - Views have owner = the view's DEFINER and no comment (MySQL has no
//     view comments); tables have no owner.
//   - altered_at is UPDATE_TIME (last data change the engine reports);
//     table_stats.row_count is TABLE_ROWS, an estimate for InnoDB, and
//     total_bytes is DATA_LENGTH + INDEX_LENGTH. On MySQL 8 these come from
//     a cache refreshed every information_schema_stats_expiry seconds.
//   - Sequences (MariaDB) and temporary tables are not read: the model has
//     no kind for them.
//   - Column data_type is COLUMN_TYPE ("int(11) unsigned", "enum('a','b')");
//     MariaDB's default "NULL" (an explicit NULL default) is reported as no
//     default, like MySQL does.
//   - Routines are named by their parameter types, "name(int(11), text)".
//   - Lineage comes only from the engine's own dependency catalog,
//     information_schema.VIEW_TABLE_USAGE (MySQL 8.0.13+). MariaDB and MySQL
//     5.7 have none: no lineage is emitted and Preflight's "lineage" check
//     warns; it is never guessed from view SQL.
//
// # Queries
//
// Extract sends ExtractQueries statements whatever the number of tables
// (see extract.go for the list). MariaDB joins information_schema tables by
// nested loops (time grows with the product of their sizes), so no
// statement MariaDB runs joins two of them directly: the joined side is a
// grouped derived table, which MariaDB indexes, or the statement is a UNION
// ordered so that related rows arrive together and are grouped while
// streaming, one group in memory at a time.
//
// Filter patterns are pushed into SQL as bound REGEXP parameters on a
// case-sensitive utf8mb4_bin copy of the name where the engine's regex is
// character-aware (MariaDB's PCRE, MySQL 8's ICU); MySQL 5.7's
// byte-oriented REGEXP gets no pushdown. Every row is re-checked with the
// Go patterns either way. The server may narrow, never decide: MariaDB's
// PCRE gives up on a backtracking pattern with a warning and answers "no
// match", so every statement that binds a pattern is followed by SHOW
// WARNINGS and a regex error fails the extraction (ExtractWarningChecks).
//
// # Partitions
//
// Source.Schemas (a partition's schema group) lists MySQL schemas, within
// Source.Databases; it is pushed into SQL as exact names and re-checked in
// Go. The one model database row is written by the group holding the first
// selected schema. Plan reports one DatabasePlan with an empty name (the
// whole server: Source.Databases names schemas here), with PlanQueries
// statements.
//
// Minimum server versions: MariaDB 10.3, MySQL 5.7.
package mysql
