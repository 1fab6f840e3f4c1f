package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
)

// constraints writes primary key, foreign key, unique and check
// constraints with their columns in key order.
func (r *dbReader) constraints(ctx context.Context) error {
	const what = "constraints"
	rows, err := r.query(ctx, what, constraintsSQL, r.withArgs(9, r.textChars())...)
	if err != nil {
		return err
	}
	var (
		schema, table, name         string
		contype, onUpdate, onDelete byte
		columns, refColumns         []string
		refSchema, refTable, check  pgtype.Text
		con                         model.Constraint
	)
	for rows.Next() {
		err := rows.Scan(&schema, &table, &name, &contype, &columns, &refSchema, &refTable, &refColumns, &check, &onUpdate, &onDelete)
		if err != nil {
			return r.finish(rows, what, err)
		}
		t := r.table(schema, table)
		if !t.included {
			continue
		}
		con = model.Constraint{
			QualifiedName: t.names.ChildQN(name), ParentQualifiedName: t.qn,
			Database: r.db.name, Schema: schema, Table: table, Name: name,
			Type:    constraintType(contype),
			Columns: columns, ReferencedColumns: refColumns,
			CheckClause: textRef(&check),
		}
		if contype == 'f' && refTable.Valid {
			// A foreign key always references a table of the same database.
			ref := model.Names{Connection: r.c.src.Connection, Database: r.db.name, Schema: refSchema.String, Table: refTable.String}
			qn := ref.TableQN()
			con.ReferencedTableQN = &qn
			con.OnUpdate, con.OnDelete = fkAction(onUpdate), fkAction(onDelete)
		}
		if err := r.w.Constraint(con); err != nil {
			return r.finish(rows, what, err)
		}
	}
	return r.finish(rows, what, nil)
}

func constraintType(contype byte) string {
	switch contype {
	case 'p':
		return model.ConstraintPrimaryKey
	case 'f':
		return model.ConstraintForeignKey
	case 'u':
		return model.ConstraintUnique
	default:
		return model.ConstraintCheck
	}
}

// Referential actions as SQL spells them (pg_constraint.confupdtype and
// confdeltype codes).
var (
	actNoAction   = "NO ACTION"
	actRestrict   = "RESTRICT"
	actCascade    = "CASCADE"
	actSetNull    = "SET NULL"
	actSetDefault = "SET DEFAULT"
)

func fkAction(code byte) *string {
	switch code {
	case 'a':
		return &actNoAction
	case 'r':
		return &actRestrict
	case 'c':
		return &actCascade
	case 'n':
		return &actSetNull
	case 'd':
		return &actSetDefault
	default:
		return nil
	}
}
