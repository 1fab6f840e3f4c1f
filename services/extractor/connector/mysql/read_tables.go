package mysql

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
)

// sameName joins two name columns: the plain equality lets the optimizer
// use an index, the binary one keeps "Foo" and "foo" apart on servers with
// case-sensitive table names. Only MySQL 8 statements join information_schema
// tables directly (they are views over indexed dictionary tables there);
// elsewhere the joined side is a grouped derived table, see read_columns.go.
func sameName(l, r string) string {
	return l + " = " + r + " AND CAST(" + l + " AS BINARY) = CAST(" + r + " AS BINARY)"
}

// tableTypes are the TABLE_TYPEs read; SEQUENCE and TEMPORARY have no
// model kind.
const tableTypes = "('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW', 'SYSTEM VIEW')"

func tableKind(tableType, createOptions string) string {
	switch {
	case strings.HasSuffix(tableType, "VIEW"):
		return model.TableKindView
	case strings.Contains(strings.ToLower(createOptions), "partitioned"):
		return model.TableKindPartitioned
	default:
		return model.TableKindTable
	}
}

// unixTime converts UNIX_TIMESTAMP() output. Reading times that way makes
// them absolute whatever the session's time zone, with no SET statement.
func unixTime(f sql.NullFloat64) *time.Time {
	if !f.Valid || f.Float64 <= 0 {
		return nil
	}
	t := time.Unix(int64(f.Float64), 0).UTC()
	return &t
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

// vtuTable is where lineage comes from; tests point it at a stand-in
// table on engines without one.
const vtuTable = "information_schema.VIEW_TABLE_USAGE"

// tablesQuery reads tables from TABLES and views from VIEWS in one UNION
// rather than a join: MariaDB joins information_schema tables by nested
// loops, which grows with tables × views. With lineage a view has one row
// per source and rows are ordered so those arrive together.
// chars caps comments and view definitions (textCol).
func (s scope) tablesQuery(info serverInfo, vtu string, chars int) (string, []any) {
	var tables, views where
	s.tableFilter(&tables, "t.TABLE_SCHEMA", "t.TABLE_NAME")
	s.tableFilter(&views, "v.TABLE_SCHEMA", "v.TABLE_NAME")
	lineageCols := "NULL, NULL, NULL, NULL"
	lineageJoin, order := "", ""
	if info.viewTableUsage {
		lineageCols = "u.TABLE_SCHEMA, u.TABLE_NAME, src.TABLE_TYPE, src.CREATE_OPTIONS"
		lineageJoin = " LEFT JOIN " + vtu + " u ON " +
			sameName("u.VIEW_SCHEMA", "v.TABLE_SCHEMA") + " AND " + sameName("u.VIEW_NAME", "v.TABLE_NAME") +
			" LEFT JOIN information_schema.TABLES src ON " +
			sameName("src.TABLE_SCHEMA", "u.TABLE_SCHEMA") + " AND " + sameName("src.TABLE_NAME", "u.TABLE_NAME")
		order = " ORDER BY CAST(x.s AS BINARY), CAST(x.n AS BINARY)"
	}
	query := "SELECT * FROM (" +
		"SELECT t.TABLE_SCHEMA AS s, t.TABLE_NAME AS n, t.TABLE_TYPE, t.CREATE_OPTIONS," +
		" UNIX_TIMESTAMP(t.CREATE_TIME), UNIX_TIMESTAMP(t.UPDATE_TIME), t.TABLE_ROWS, t.DATA_LENGTH + t.INDEX_LENGTH," +
		" " + textCol("t.TABLE_COMMENT", chars) + ", NULL AS def, NULL AS definer, NULL AS us, NULL AS un, NULL AS ut, NULL AS uo" +
		" FROM information_schema.TABLES t" +
		" WHERE t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SYSTEM VIEW') AND " + tables.sql() +
		" UNION ALL SELECT v.TABLE_SCHEMA, v.TABLE_NAME, 'VIEW', NULL, NULL, NULL, NULL, NULL, NULL," +
		" " + textCol("v.VIEW_DEFINITION", chars) + ", v.DEFINER, " + lineageCols +
		" FROM information_schema.VIEWS v" + lineageJoin +
		" WHERE " + views.sql() +
		") x" + order
	return query, append(append([]any(nil), tables.args...), views.args...)
}

// readTables emits tables and views with their table_stats and, where the
// engine has VIEW_TABLE_USAGE, the views' lineage.
func (s scope) readTables(ctx context.Context, q *counter, info serverInfo, w *model.Writer) error {
	return s.readTablesFrom(ctx, q, info, w, vtuTable)
}

func (s scope) readTablesFrom(ctx context.Context, q *counter, info serverInfo, w *model.Writer, vtu string) error {
	query, args := s.tablesQuery(info, vtu, textChars(w))
	var last struct{ schema, name, kind string }
	return q.each(ctx, stTables, query, args, func(rows *sql.Rows) error {
		var (
			schema, name, typ                    string
			options, comment, def, definer       sql.NullString
			srcSchema, srcName, srcType, srcOpts sql.NullString
			created, updated                     sql.NullFloat64
			rowCount, bytes                      sql.NullInt64
		)
		if err := rows.Scan(&schema, &name, &typ, &options, &created, &updated, &rowCount, &bytes,
			&comment, &def, &definer, &srcSchema, &srcName, &srcType, &srcOpts); err != nil {
			return err
		}
		if !s.tableIncluded(schema, name) {
			return nil
		}
		n := s.names(schema, name)
		if schema != last.schema || name != last.name {
			last.schema, last.name = schema, name
			last.kind = tableKind(typ, options.String)
			if err := s.writeTable(w, n, last.kind, comment, def, definer, created, updated, rowCount, bytes); err != nil {
				return err
			}
		}
		if !srcName.Valid || last.kind != model.TableKindView {
			return nil
		}
		source := s.names(srcSchema.String, srcName.String).TableQN()
		kind := model.TableKindTable
		if srcType.Valid {
			kind = tableKind(srcType.String, srcOpts.String)
		}
		return w.Lineage(model.Lineage{
			QualifiedName: model.LineageQN(n.TableQN(), source), ParentQualifiedName: n.TableQN(),
			Database: DatabaseName, Schema: schema, View: name, SourceQN: source, SourceKind: kind,
		})
	})
}

func (s scope) writeTable(w *model.Writer, n model.Names, kind string, comment, def, definer sql.NullString,
	created, updated sql.NullFloat64, rowCount, bytes sql.NullInt64) error {
	t := model.Table{
		QualifiedName: n.TableQN(), ParentQualifiedName: n.SchemaQN(),
		Database: DatabaseName, Schema: n.Schema, Name: n.Table, Kind: kind,
		Comment: str(comment), CreatedAt: unixTime(created), AlteredAt: unixTime(updated),
	}
	if kind == model.TableKindView {
		t.ViewDefinition = str(def)
		t.Owner = str(definer)
	}
	if err := w.Table(t); err != nil {
		return err
	}
	if kind == model.TableKindView {
		return nil
	}
	return w.TableStats(model.TableStats{
		QualifiedName: n.TableQN(), ParentQualifiedName: n.TableQN(),
		Database: DatabaseName, Schema: n.Schema, Table: n.Table,
		RowCount: nullInt(rowCount), TotalBytes: nullInt(bytes),
	})
}
