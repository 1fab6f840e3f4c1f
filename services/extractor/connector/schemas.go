package connector

import (
	"fmt"
	"sort"
)

// SchemaSet is Source.Schemas and Source.Tables compiled: the schema
// group, or the range of one schema's tables, one partition extracts. The
// zero value (no list) admits every schema and table.
type SchemaSet struct {
	names  map[string]bool
	tables TableRange
}

// TableRange is a range of table names, From included and Before not,
// compared by bytes (Go's order, PostgreSQL's "C" collation, MySQL's
// utf8mb4_bin): a partition of a schema too big for one. "" leaves an end
// open; the zero value admits every table.
type TableRange struct {
	From   string `json:"from,omitempty"`
	Before string `json:"before,omitempty"`
}

// Set reports whether the range restricts anything.
func (r TableRange) Set() bool { return r.From != "" || r.Before != "" }

// Has reports whether table is in the range.
func (r TableRange) Has(table string) bool {
	return table >= r.From && (r.Before == "" || table < r.Before)
}

// Check says what is wrong with a range (nil: nothing).
func (r TableRange) Check() error {
	if r.Before != "" && r.From >= r.Before {
		return fmt.Errorf("table range [%q, %q) is empty: from must sort before before", r.From, r.Before)
	}
	return nil
}

// WithTables restricts the set to a range of the tables of its one schema.
func (s SchemaSet) WithTables(r TableRange) SchemaSet {
	s.tables = r
	return s
}

// Tables is the range of tables (zero: every table).
func (s SchemaSet) Tables() TableRange { return s.tables }

// HasTable reports whether a table of schema is this extraction's.
func (s SchemaSet) HasTable(schema, table string) bool { return s.Has(schema) && s.tables.Has(table) }

// OwnsSchema reports whether this extraction writes schema's own row and
// its routines: the partition holding the first range of a split schema
// does, so the ranges write them exactly once.
func (s SchemaSet) OwnsSchema(schema string) bool { return s.Has(schema) && s.tables.From == "" }

// NewSchemaSet builds the set of names; nil or empty admits every schema.
func NewSchemaSet(names []string) SchemaSet {
	if len(names) == 0 {
		return SchemaSet{}
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return SchemaSet{names: m}
}

// Restricted reports whether a schema list is set.
func (s SchemaSet) Restricted() bool { return s.names != nil }

// Has reports whether schema is in the list (always, without a list).
// Names compare exactly, case included.
func (s SchemaSet) Has(schema string) bool { return s.names == nil || s.names[schema] }

// List returns the names sorted, or nil without a list; connectors push it
// into SQL as exact names.
func (s SchemaSet) List() []string {
	if s.names == nil {
		return nil
	}
	out := make([]string, 0, len(s.names))
	for n := range s.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// OwnsDatabase decides whether this extraction writes a database's row,
// given the database's first selected schema (the smallest name, by bytes,
// that passes the filters; "" when none does). Without a list it always
// does; with one, only the partition that holds that schema does, so that
// disjoint schema groups covering a database write its row exactly once.
func (s SchemaSet) OwnsDatabase(firstSelected string, anySelected bool) bool {
	if s.names == nil {
		return true
	}
	return anySelected && s.names[firstSelected] && s.tables.From == ""
}

// BoundEvery is how many tables apart a plan's bounds are (SchemaPlan):
// the granularity of a split schema's ranges.
const BoundEvery = 100

// Tally counts a plan's selected tables per selected schema, keeping
// their names to give a big schema's bounds (SchemaPlan.Bounds).
type Tally struct {
	schemas map[string][]string
}

// Schema counts a selected schema, with or without tables.
func (t *Tally) Schema(name string) {
	if t.schemas == nil {
		t.schemas = map[string][]string{}
	}
	if _, ok := t.schemas[name]; !ok {
		t.schemas[name] = nil
	}
}

// Table counts a selected table of a selected schema.
func (t *Tally) Table(schema, name string) {
	t.Schema(schema)
	t.schemas[schema] = append(t.schemas[schema], name)
}

// Plans are the schemas in name order, with their table counts and, for
// one of more than BoundEvery tables, the names of every BoundEvery-th
// table after the first in byte order.
func (t *Tally) Plans() []SchemaPlan {
	out := make([]SchemaPlan, 0, len(t.schemas))
	for name, tables := range t.schemas {
		p := SchemaPlan{Name: name, Tables: len(tables)}
		if len(tables) > BoundEvery {
			sort.Strings(tables)
			for i := BoundEvery; i < len(tables); i += BoundEvery {
				p.Bounds = append(p.Bounds, tables[i])
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FirstName tracks the smallest of the names it sees.
type FirstName struct {
	Name string
	Seen bool
}

// See offers one name.
func (f *FirstName) See(name string) {
	if !f.Seen || name < f.Name {
		f.Name, f.Seen = name, true
	}
}
