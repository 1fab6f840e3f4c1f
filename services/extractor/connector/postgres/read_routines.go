package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
)

// routines writes functions (including aggregates and window functions)
// and procedures of the selected schemas; overloads are told apart by their
// identity arguments in the qualified name.
func (r *dbReader) routines(ctx context.Context) error {
	const what = "routines"
	rows, err := r.query(ctx, what, routinesSQL, r.withArgs(4, r.c.wantRoutineDefs, r.textChars())...)
	if err != nil {
		return err
	}
	var (
		schema, name, identity, arguments string
		isProcedure                       bool
		language, result, def, comment    pgtype.Text
	)
	for rows.Next() {
		err := rows.Scan(&schema, &name, &isProcedure, &language, &identity, &arguments, &result, &def, &comment)
		if err != nil {
			return r.finish(rows, what, err)
		}
		s := r.schema(schema)
		if !s.included {
			continue
		}
		kind := model.RoutineFunction
		if isProcedure {
			kind = model.RoutineProcedure
		}
		n := model.Names{Connection: r.c.src.Connection, Database: r.db.name, Schema: schema}
		err = r.w.Routine(model.Routine{
			QualifiedName: n.RoutineQN(name, identity), ParentQualifiedName: s.qn,
			Database: r.db.name, Schema: schema, Name: name, Kind: kind,
			Language: textRef(&language), Arguments: arguments, ReturnType: textRef(&result),
			Definition: textRef(&def), Comment: textRef(&comment),
		})
		if err != nil {
			return r.finish(rows, what, err)
		}
	}
	return r.finish(rows, what, nil)
}
