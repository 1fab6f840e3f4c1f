package connector

import "sort"

// SchemaSet is Source.Schemas compiled: the schema group one partition
// extracts. The zero value (no list) admits every schema.
type SchemaSet struct {
	names map[string]bool
}

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
	return anySelected && s.names[firstSelected]
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
