package mysql

import (
	"fmt"
	"strings"
)

// information_schema shows a user only what they hold some privilege on, so
// missing grants look like an empty catalog. These messages turn that into
// the grant to run.

// grantHint is the statement(s) that give user read access to schemas.
func grantHint(user string, schemas []string) string {
	account := quoteAccount(user)
	if len(schemas) == 0 {
		return "grant read access to each schema to extract, e.g. GRANT SELECT, SHOW VIEW ON `<schema>`.* TO " + account +
			" (SELECT makes tables, columns, constraints and indexes visible, SHOW VIEW view definitions)"
	}
	stmts := make([]string, len(schemas))
	for i, s := range schemas {
		stmts[i] = "GRANT SELECT, SHOW VIEW ON " + quoteIdent(s) + ".* TO " + account + ";"
	}
	return "grant read access with " + strings.Join(stmts, " ")
}

// noSchemas explains an empty catalog: what the user sees, and the grant.
func (c *Conn) noSchemas(user string) (detail, fix string) {
	fix = grantHint(user, c.scope.schemas)
	if len(c.scope.schemas) > 0 {
		return fmt.Sprintf("user %s sees 0 of the %d expected schemas (%s): they do not exist or the user has no privilege on them",
			user, len(c.scope.schemas), strings.Join(c.scope.schemas, ", ")), fix
	}
	return fmt.Sprintf("user %s sees no schemas besides the system ones (%s): it has no privilege on any",
		user, strings.Join(systemSchemas, ", ")), fix
}

// quoteAccount turns CURRENT_USER()'s "name@host" into 'name'@'host'.
func quoteAccount(user string) string {
	i := strings.LastIndexByte(user, '@')
	if i < 0 {
		return quoteString(user)
	}
	return quoteString(user[:i]) + "@" + quoteString(user[i+1:])
}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
