package mysql

import (
	"context"
	"database/sql"
	"strings"

	"github.com/secure-agent/secure-agent/libs/model"
)

// routine is one routine being assembled from its parameter rows.
type routine struct {
	row        model.Routine
	args, sig  []string
	schemaName string
}

// readRoutines emits functions and procedures of included schemas. Each
// routine's row and its parameters' rows come from one UNION, ordered so a
// routine arrives first and its parameters follow in order (a join would
// be a nested loop in MariaDB, see read_tables.go); they are grouped while
// streaming. ROUTINE_DEFINITION is NULL unless the user defined the routine
// or may read routine bodies.
func (s scope) readRoutines(ctx context.Context, q *counter, _ serverInfo, w *model.Writer) error {
	var routines, params where
	s.schemaFilter(&routines, "ROUTINE_SCHEMA")
	s.schemaFilter(&params, "SPECIFIC_SCHEMA")
	// Parameter types are not cut: they are part of the routine's
	// qualified name.
	chars := textChars(w)
	query := "SELECT * FROM (" +
		"SELECT ROUTINE_SCHEMA AS s, ROUTINE_TYPE AS typ, ROUTINE_NAME AS n, 0 AS pos," +
		" LOWER(COALESCE(EXTERNAL_LANGUAGE, ROUTINE_BODY)) AS lang, " + textCol("DTD_IDENTIFIER", chars) + " AS ret, " +
		textCol("ROUTINE_DEFINITION", chars) + " AS def, " + textCol("ROUTINE_COMMENT", chars) + " AS cmt, NULL AS mode, NULL AS pname, NULL AS ptype" +
		" FROM information_schema.ROUTINES WHERE ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') AND " + routines.sql() +
		" UNION ALL SELECT SPECIFIC_SCHEMA, ROUTINE_TYPE, SPECIFIC_NAME, ORDINAL_POSITION, NULL, NULL, NULL, NULL," +
		" PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER" +
		" FROM information_schema.PARAMETERS WHERE ORDINAL_POSITION > 0 AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') AND " + params.sql() +
		") x ORDER BY CAST(s AS BINARY), typ, n, pos"
	args := append(append([]any(nil), routines.args...), params.args...)

	var cur *routine
	flush := func() error {
		if cur == nil {
			return nil
		}
		r := cur.row
		r.Arguments = strings.Join(cur.args, ", ")
		r.QualifiedName = s.names(cur.schemaName, "").RoutineQN(r.Name, strings.Join(cur.sig, ", "))
		cur = nil
		return w.Routine(r)
	}
	err := q.each(ctx, stRoutines, query, args, func(rows *sql.Rows) error {
		var (
			schema, typ, name           string
			pos                         int64
			lang, returns, def, comment sql.NullString
			mode, param, paramType      sql.NullString
		)
		if err := rows.Scan(&schema, &typ, &name, &pos, &lang, &returns, &def, &comment, &mode, &param, &paramType); err != nil {
			return err
		}
		if !s.schemaIncluded(schema) {
			return nil
		}
		kind := model.RoutineProcedure
		if typ == "FUNCTION" {
			kind = model.RoutineFunction
		}
		if pos == 0 {
			if err := flush(); err != nil {
				return err
			}
			n := s.names(schema, "")
			cur = &routine{schemaName: schema, row: model.Routine{
				ParentQualifiedName: n.SchemaQN(),
				Database:            DatabaseName, Schema: schema, Name: name, Kind: kind,
				Language: str(lang), Definition: str(def), Comment: str(comment),
			}}
			if kind == model.RoutineFunction {
				cur.row.ReturnType = str(returns)
			}
			return nil
		}
		// Routine names are case-insensitive: a parameter row may spell
		// its routine's name differently.
		if cur == nil || cur.schemaName != schema || cur.row.Kind != kind || !strings.EqualFold(cur.row.Name, name) {
			return nil // the routine row itself is not visible
		}
		arg := param.String + " " + paramType.String
		if kind == model.RoutineProcedure && mode.Valid {
			arg = mode.String + " " + arg
		}
		cur.args = append(cur.args, arg)
		cur.sig = append(cur.sig, paramType.String)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
