package model

import "strings"

// Catalog qualified names are "{connection}/{database}/{schema}/{table}[/{column}]".
// The connection part is taken as given (catalog connection names contain
// '/'); every other segment is escaped so that names containing '/', '%',
// dots, quotes, spaces or non-ASCII stay unambiguous and reversible: only
// '%' and '/' are replaced ('%25', '%2F'); everything else is kept as UTF-8.

// EscapeSegment escapes one name for use as a qualified-name segment.
func EscapeSegment(name string) string {
	if !strings.ContainsAny(name, "%/") {
		return name
	}
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// UnescapeSegment reverses EscapeSegment.
func UnescapeSegment(seg string) string {
	if !strings.Contains(seg, "%") {
		return seg
	}
	r := strings.NewReplacer("%2F", "/", "%25", "%")
	return r.Replace(seg)
}

// QualifiedName joins a connection qualified name and escaped name segments.
func QualifiedName(connection string, names ...string) string {
	n := len(connection)
	for _, s := range names {
		n += len(s) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(connection)
	for _, s := range names {
		b.WriteByte('/')
		b.WriteString(EscapeSegment(s))
	}
	return b.String()
}

// Names is a convenience for connectors: the qualified names of one table
// and of its parents.
type Names struct {
	Connection, Database, Schema, Table string
}

func (n Names) DatabaseQN() string { return QualifiedName(n.Connection, n.Database) }
func (n Names) SchemaQN() string   { return QualifiedName(n.Connection, n.Database, n.Schema) }
func (n Names) TableQN() string    { return QualifiedName(n.Connection, n.Database, n.Schema, n.Table) }

// ChildQN is the qualified name of something inside the table (a column,
// constraint or index).
func (n Names) ChildQN(child string) string {
	return QualifiedName(n.Connection, n.Database, n.Schema, n.Table, child)
}

// RoutineQN names a routine by its name and argument signature, so
// overloads stay distinct: ".../schema/name(integer, text)".
func (n Names) RoutineQN(name, signature string) string {
	return n.SchemaQN() + "/" + EscapeSegment(name+"("+signature+")")
}

// LineageQN names the edge from source into the view target.
func LineageQN(targetQN, sourceQN string) string {
	return targetQN + "/@lineage/" + EscapeSegment(sourceQN)
}
