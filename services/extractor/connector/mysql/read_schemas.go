package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// readSchemas emits the server's database row and one schema row per
// included MySQL schema. Schema patterns are not pushed down here: every
// visible schema in the list is read (there are few) so that a requested
// schema the user cannot see is an error, not a silent gap, and so that
// with a partition's schema group only the partition holding the first
// selected schema writes the database row.
func (s scope) readSchemas(ctx context.Context, q *counter, info serverInfo, w *model.Writer) error {
	var cond where
	s.schemaList(&cond, "SCHEMA_NAME")
	comment := "NULL"
	if info.schemaComment {
		comment = textCol("SCHEMA_COMMENT", textChars(w))
	}
	query := "SELECT SCHEMA_NAME, " + comment + " FROM information_schema.SCHEMATA WHERE " + cond.sql()

	seen := make(map[string]bool, len(s.schemas)) // bounded by the configured list
	var first connector.FirstName
	err := q.each(ctx, stSchemas, query, cond.args, func(rows *sql.Rows) error {
		var name string
		var comment sql.NullString
		if err := rows.Scan(&name, &comment); err != nil {
			return err
		}
		if !s.inList(name) {
			return nil
		}
		if len(s.schemas) > 0 {
			seen[name] = true
		}
		if !s.selected(name) {
			return nil
		}
		first.See(name)
		if !s.part.OwnsSchema(name) {
			return nil
		}
		n := s.names(name, "")
		return w.Schema(model.Schema{
			QualifiedName: n.SchemaQN(), ParentQualifiedName: n.DatabaseQN(),
			Database: DatabaseName, Name: name, Comment: str(comment),
		})
	})
	if err != nil {
		return err
	}
	if missing := s.missing(seen); len(missing) > 0 {
		return fmt.Errorf("user %s cannot see schema(s) %s: they do not exist or the user has no privilege on them; %s",
			info.user, strings.Join(missing, ", "), grantHint(info.user, missing))
	}
	if !s.part.OwnsDatabase(first.Name, first.Seen) {
		return nil
	}
	n := s.names("", "")
	return w.Database(model.Database{QualifiedName: n.DatabaseQN(), ParentQualifiedName: s.connection, Name: DatabaseName})
}

// missing lists the configured schemas not in seen, in configured order.
func (s scope) missing(seen map[string]bool) []string {
	var out []string
	for _, name := range s.schemas {
		if !seen[name] {
			out = append(out, name)
		}
	}
	return out
}
