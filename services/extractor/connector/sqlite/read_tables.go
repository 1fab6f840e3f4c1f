package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// readSchemas writes the schemas of the schema group and reports whether
// main has sqlite_stat1 and which selected schema comes first.
func (c *Connector) readSchemas(ctx context.Context, q *session, w *model.Writer) (hasStat1 bool, first connector.FirstName, err error) {
	err = q.each(ctx, stSchemas, qSchemas, func(rows *sql.Rows) error {
		var name string
		var stat1 bool
		if err := rows.Scan(&name, &stat1); err != nil {
			return err
		}
		if !c.filters.SchemaIncluded(c.names.Database, name) {
			return nil
		}
		first.See(name)
		if !c.schemas.Has(name) {
			return nil
		}
		if name == "main" {
			hasStat1 = stat1 // every range of main reads its statistics
		}
		if !c.schemas.OwnsSchema(name) {
			return nil // another range writes the schema's row
		}
		n := c.names
		n.Schema = name
		return w.Schema(model.Schema{
			QualifiedName: n.SchemaQN(), ParentQualifiedName: n.DatabaseQN(), Database: n.Database, Name: name,
		})
	})
	return hasStat1, first, err
}

// tableKinds maps pragma_table_list's type to the model's table kinds. A
// virtual table is "foreign": its rows come from a module's code (FTS5,
// R*Tree, a CSV reader...), not from SQLite's own storage, which is what
// the model's foreign tables are. Shadow tables (the real tables a virtual
// table keeps its data in) are ordinary tables.
var tableKinds = map[string]string{
	"table":   model.TableKindTable,
	"shadow":  model.TableKindTable,
	"view":    model.TableKindView,
	"virtual": model.TableKindForeign,
}

func (c *Connector) readTables(ctx context.Context, q *session, w *model.Writer) error {
	return q.each(ctx, stTables, qTables, func(rows *sql.Rows) error {
		var schema, name, typ string
		var def sql.NullString
		if err := rows.Scan(&schema, &name, &typ, &def); err != nil {
			return err
		}
		if !c.tableIncluded(schema, name) {
			return nil
		}
		kind, ok := tableKinds[typ]
		if !ok {
			return fmt.Errorf("table %s.%s has type %q, which this connector does not know: report it to the agent's maintainers", schema, name, typ)
		}
		n := c.table(schema, name)
		return w.Table(model.Table{
			QualifiedName: n.TableQN(), ParentQualifiedName: n.SchemaQN(),
			Database: n.Database, Schema: schema, Name: name, Kind: kind,
			ViewDefinition: nullStr(def),
		})
	}, textChars(w))
}

func (c *Connector) readColumns(ctx context.Context, q *session, w *model.Writer) error {
	return q.each(ctx, stColumns, qColumns, func(rows *sql.Rows) error {
		var (
			schema, table, name string
			cid, pk, hidden     int32
			typ, dflt           sql.NullString
			notNull, isFK       bool
			rowidAlias          bool
		)
		if err := rows.Scan(&schema, &table, &cid, &name, &typ, &notNull, &dflt, &pk, &hidden, &isFK, &rowidAlias); err != nil {
			return err
		}
		if !c.tableIncluded(schema, table) {
			return nil
		}
		n := c.table(schema, table)
		return w.Column(model.Column{
			QualifiedName: n.ChildQN(name), ParentQualifiedName: n.TableQN(),
			Database: n.Database, Schema: schema, Table: table, Name: name,
			Ordinal:  cid + 1,
			DataType: typ.String, // the declared type, "" when none was declared
			// hidden 2 and 3 are VIRTUAL and STORED generated columns; their
			// expression is only in the CREATE TABLE text, which is not parsed.
			IsNullable:   !notNull && !rowidAlias,
			Default:      nullStr(dflt),
			IsGenerated:  hidden == 2 || hidden == 3,
			IsPrimaryKey: pk > 0,
			IsForeignKey: isFK,
		})
	}, textChars(w))
}

func (c *Connector) table(schema, table string) model.Names {
	n := c.names
	n.Schema, n.Table = schema, table
	return n
}

// textChars is the SQL cap of free text for w: one character more than
// the Writer keeps, so the Writer sees which values were longer.
func textChars(w *model.Writer) int { return w.MaxTextBytes() + 1 }

func nullStr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}
