package mysql

import (
	"strings"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// DatabaseName is the one model database per server (see the package doc).
const DatabaseName = "default"

// systemSchemas are left out unless Source.Databases names them.
var systemSchemas = []string{"information_schema", "mysql", "performance_schema", "sys"}

// where collects the conditions and bound arguments of one statement. Only
// static SQL written in this package goes into conds; everything that comes
// from the user is an argument.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "TRUE"
	}
	return strings.Join(w.conds, " AND ")
}

// scope is what an extraction selects: the schema list and the filters.
type scope struct {
	connection string
	schemas    []string // Source.Databases (see DatabaseScope): MySQL schemas; empty = all but system
	// scopedByDSN: schemas is the DSN's database (Preflight says so).
	scopedByDSN bool
	part        connector.SchemaSet // Source.Schemas: one partition's schema group
	filters     *connector.Compiled
	pushdown    bool // engine regex may be used (see version.regexPushdown)
}

func (s scope) names(schema, table string) model.Names {
	return model.Names{Connection: s.connection, Database: DatabaseName, Schema: schema, Table: table}
}

// inList reports whether schema is in scope by name (exactly, while SQL
// compared it case-insensitively).
func (s scope) inList(schema string) bool {
	if len(s.schemas) == 0 {
		for _, sys := range systemSchemas {
			if schema == sys {
				return false
			}
		}
		return true
	}
	for _, want := range s.schemas {
		if schema == want {
			return true
		}
	}
	return false
}

// selected reports whether the schema list and the filters keep schema,
// regardless of the partition's schema group.
func (s scope) selected(schema string) bool {
	return s.inList(schema) && s.filters.SchemaIncluded(DatabaseName, schema)
}

func (s scope) schemaIncluded(schema string) bool {
	return s.selected(schema) && s.part.OwnsSchema(schema)
}

func (s scope) tableIncluded(schema, table string) bool {
	return s.inList(schema) && s.part.HasTable(schema, table) && s.filters.TableIncluded(DatabaseName, schema, table)
}

// schemaList restricts col (a schema name column) to the schema list.
func (s scope) schemaList(w *where, col string) {
	if len(s.schemas) == 0 {
		w.add(col + " NOT IN ('" + strings.Join(systemSchemas, "', '") + "')")
		return
	}
	w.add(col+" IN ("+marks(len(s.schemas))+")", anys(s.schemas)...)
}

// binSQL is expr as utf8mb4 compared by code point.
func binSQL(expr string) string { return "CONVERT(" + expr + " USING utf8mb4) COLLATE utf8mb4_bin" }

// marks is n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}

// matchSQL matches expr against a bound pattern case-sensitively and by
// character: information_schema's utf8mb3_general_ci would match case
// blind (an exclude would then drop more than the Go pattern), and a binary
// string would let '.' match one byte of a multi-byte character.
func matchSQL(expr string) string {
	return "CONVERT(" + expr + " USING utf8mb4) COLLATE utf8mb4_bin REGEXP ?"
}

// schemaFilter restricts schemaCol to the schema list and the partition's
// schema group, and pushes the schema patterns, matched against
// "database.schema". The group is compared with IN, which on
// information_schema's case-insensitive collation may keep more than the
// exact names; Go re-checks every row.
func (s scope) schemaFilter(w *where, schemaCol string) {
	s.schemaList(w, schemaCol)
	if names := s.part.List(); names != nil {
		w.add(schemaCol+" IN ("+marks(len(names))+")", anys(names)...)
	}
	if !s.pushdown {
		return
	}
	full := "CONCAT(?, '.', " + schemaCol + ")"
	patterns(w, matchSQL(full), s.filters.IncludeSchemas, s.filters.ExcludeSchemas, DatabaseName)
}

// tableFilter is schemaFilter plus the table and temp-table patterns.
func (s scope) tableFilter(w *where, schemaCol, tableCol string) {
	s.schemaFilter(w, schemaCol)
	// A partition's range of tables, compared by code point like Go
	// compares UTF-8 bytes (information_schema's own collation ignores
	// case).
	if r := s.part.Tables(); r.From != "" {
		w.add(binSQL(tableCol)+" >= "+binSQL("?"), r.From)
	}
	if r := s.part.Tables(); r.Before != "" {
		w.add(binSQL(tableCol)+" < "+binSQL("?"), r.Before)
	}
	if !s.pushdown {
		return
	}
	full := "CONCAT(" + schemaCol + ", '.', " + tableCol + ")"
	patterns(w, matchSQL(full), s.filters.IncludeTables, s.filters.ExcludeTables)
	if t := s.filters.TempTables; t != nil {
		w.add("NOT ("+matchSQL(tableCol)+")", regexArg(t.Anchored()))
	}
}

// patterns adds "(m OR m ...)" for the includes and "NOT m" per exclude,
// where m is match with pre bound before each pattern.
func patterns(w *where, match string, include, exclude []connector.Pattern, pre ...any) {
	if len(include) > 0 {
		ors := make([]string, len(include))
		var args []any
		for i, p := range include {
			ors[i] = match
			args = append(append(args, pre...), regexArg(p.Anchored()))
		}
		w.add("("+strings.Join(ors, " OR ")+")", args...)
	}
	for _, p := range exclude {
		w.add("NOT ("+match+")", append(append([]any(nil), pre...), regexArg(p.Anchored()))...)
	}
}
