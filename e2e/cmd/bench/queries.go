package main

import (
	"fmt"
	"github.com/secure-agent/secure-agent/libs/model"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// catalogQuery is one of the connector's statements.
type catalogQuery struct {
	name string
	sql  string
}

// connectorStatements are the PostgreSQL connector's catalog statements in
// the order it runs them; databasesSQL runs outside the per-database
// transaction. viewDefsSQL, which reads view definitions in chunks of
// viewDefChunk in transactions of their own, runs after it.
var connectorStatements = []string{
	"databasesSQL", "schemasSQL", "columnsSQL",
	"constraintsSQL", "indexesSQL", "routinesSQL", "lineageSQL", "tablesSQL",
}

const viewDefsStatement = "viewDefsSQL"

// connectorSQL is what the bench reads from the connector's source.
type connectorSQL struct {
	statements []catalogQuery // connectorStatements
	viewDefs   catalogQuery
	chunk      int    // ViewDefChunk
	userSchema string // userSchemaSQL: the condition that leaves system schemas out (alias n)
}

// connectorQueries reads the SQL texts from the connector's source, so the
// psql side runs exactly what agentctl runs: the constants are unexported,
// and a copy here would drift. go/types evaluates the constant
// expressions (the statements are built from shared fragments).
func connectorQueries(dir string) (connectorSQL, error) {
	var out connectorSQL
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return out, err
	}
	var files []*ast.File
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, m, nil, 0)
		if err != nil {
			return out, fmt.Errorf("parse %s: %w", m, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return out, fmt.Errorf("no Go files in %s: is --root the checkout?", dir)
	}
	// Errors (imports this program cannot resolve) are ignored: only the
	// package's constants are needed, and they type-check without imports.
	conf := types.Config{Importer: importer.Default(), Error: func(error) {}}
	pkg, _ := conf.Check("postgres", fset, files, nil)
	lookup := func(name string, kind constant.Kind) (constant.Value, error) {
		obj, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || obj.Val().Kind() != kind {
			return nil, fmt.Errorf("%s: no %s constant %s; update e2e/cmd/bench to the connector's statements", dir, kind, name)
		}
		return obj.Val(), nil
	}
	for _, name := range append(slices.Clone(connectorStatements), viewDefsStatement) {
		v, err := lookup(name, constant.String)
		if err != nil {
			return out, err
		}
		q := catalogQuery{name: name, sql: constant.StringVal(v)}
		if name == viewDefsStatement {
			out.viewDefs = q
		} else {
			out.statements = append(out.statements, q)
		}
	}
	us, err := lookup("userSchemaSQL", constant.String)
	if err != nil {
		return out, err
	}
	out.userSchema = constant.StringVal(us)
	v, err := lookup("ViewDefChunk", constant.Int)
	if err != nil {
		return out, err
	}
	n, _ := constant.Int64Val(v)
	out.chunk = int(n)
	return out, nil
}

var paramCast = regexp.MustCompile(`\$(\d+)::([a-z]+(?:\[\])?)`)

// rangeBound is a text parameter compared with a name as a bound of a
// partition's range (`c.relname::text >= $8::text`): an unpartitioned
// extraction passes NULL there, as agentctl does.
var rangeBound = regexp.MustCompile(`(?:>=|<)\s*\$(\d+)::text\b`)

// psqlScript runs the statements as the connector does: databasesSQL on
// its own, then every per-database statement in one repeatable-read,
// read-only transaction, each prepared and executed with the parameters of
// an unfiltered extraction of db (no patterns, every optional field on);
// then the view definitions chunk by chunk, each statement its own
// transaction. after holds each chunk's predecessor (schema and name of
// the last view of the chunk before; nil for the first chunk).
func psqlScript(sql connectorSQL, after [][2]string, db string) (string, error) {
	var b strings.Builder
	b.WriteString("\\set ON_ERROR_STOP 1\n")
	for i, q := range sql.statements {
		args, err := psqlArgs(q, db, nil)
		if err != nil {
			return "", err
		}
		if i == 1 {
			b.WriteString("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n")
		}
		fmt.Fprintf(&b, "PREPARE %s AS %s;\nEXECUTE %s%s;\n", strings.ToLower(q.name), strings.TrimSpace(q.sql), strings.ToLower(q.name), args)
	}
	b.WriteString("COMMIT;\n")
	q := sql.viewDefs
	fmt.Fprintf(&b, "PREPARE %s AS %s;\n", strings.ToLower(q.name), strings.TrimSpace(q.sql))
	for i := 0; i <= len(after); i++ {
		var key []string // the $n::name parameters, NULL for the first chunk
		if i > 0 {
			key = after[i-1][:]
		}
		args, err := psqlArgs(q, db, &viewChunk{after: key, limit: sql.chunk})
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "EXECUTE %s%s;\n", strings.ToLower(q.name), args)
	}
	return b.String(), nil
}

// viewChunk fills viewDefsSQL's chunk parameters: the name-typed key of
// the predecessor and the int limit after the text cap.
type viewChunk struct {
	after []string
	limit int
}

// psqlArgs derives each parameter's value from its cast in the SQL: text is
// the database name, or NULL where it bounds a partition's range of table
// names (an unpartitioned extraction), text[] a pattern list (NULL: not
// filtered), bool an "include this optional field" switch (true).
// databasesSQL's text[] is the database list, limited to db like
// agentctl's --database.
func psqlArgs(q catalogQuery, db string, chunk *viewChunk) (string, error) {
	paramTypes := map[int]string{}
	for _, m := range paramCast.FindAllStringSubmatch(q.sql, -1) {
		n, _ := strconv.Atoi(m[1])
		if prev, ok := paramTypes[n]; ok && prev != m[2] {
			return "", fmt.Errorf("%s: $%d is cast to both %s and %s", q.name, n, prev, m[2])
		}
		paramTypes[n] = m[2]
	}
	if len(paramTypes) == 0 {
		return "", nil
	}
	nums := make([]int, 0, len(paramTypes))
	for n := range paramTypes {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	bounds := map[int]bool{}
	for _, m := range rangeBound.FindAllStringSubmatch(q.sql, -1) {
		n, _ := strconv.Atoi(m[1])
		bounds[n] = true
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	lit := quote(db)
	var vals []string
	names, ints := 0, 0
	for i, n := range nums {
		if n != i+1 {
			return "", fmt.Errorf("%s: parameter $%d is never cast, so its type is unknown", q.name, i+1)
		}
		switch t := paramTypes[n]; {
		case t == "text" && bounds[n]:
			vals = append(vals, "NULL")
		case t == "text":
			vals = append(vals, lit)
		case t == "text[]" && q.name == "databasesSQL":
			vals = append(vals, "ARRAY["+lit+"]")
		case t == "text[]":
			vals = append(vals, "NULL")
		case t == "bool":
			vals = append(vals, "true")
		case t == "name" && chunk != nil:
			if chunk.after == nil {
				vals = append(vals, "NULL")
			} else {
				vals = append(vals, quote(chunk.after[names]))
			}
			names++
		case t == "int" && chunk != nil && ints == 1:
			vals = append(vals, strconv.Itoa(chunk.limit))
		case t == "int":
			// The free-text caps: the default cap's characters, plus the
			// one that tells the Writer a value was longer.
			vals = append(vals, strconv.Itoa(model.DefaultMaxTextBytes+1))
			ints++
		default:
			return "", fmt.Errorf("%s: parameter $%d has type %s, which the bench does not know how to fill", q.name, n, t)
		}
	}
	return "(" + strings.Join(vals, ", ") + ")", nil
}
