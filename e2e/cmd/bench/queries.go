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
// transaction.
var connectorStatements = []string{
	"databasesSQL", "schemasSQL", "tablesSQL", "columnsSQL",
	"constraintsSQL", "indexesSQL", "routinesSQL", "lineageSQL",
}

// connectorQueries reads the SQL texts from the connector's source, so the
// psql side runs exactly what agentctl runs: the constants are unexported,
// and a copy here would drift. go/types evaluates the constant
// expressions (the statements are built from shared fragments).
func connectorQueries(dir string) ([]catalogQuery, error) {
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, m, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", m, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s: is --root the checkout?", dir)
	}
	// Errors (imports this program cannot resolve) are ignored: only the
	// package's constants are needed, and they type-check without imports.
	conf := types.Config{Importer: importer.Default(), Error: func(error) {}}
	pkg, _ := conf.Check("postgres", fset, files, nil)
	var out []catalogQuery
	for _, name := range connectorStatements {
		obj, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || obj.Val().Kind() != constant.String {
			return nil, fmt.Errorf("%s: no string constant %s; update connectorStatements in e2e/cmd/bench to the connector's statements", dir, name)
		}
		out = append(out, catalogQuery{name: name, sql: constant.StringVal(obj.Val())})
	}
	return out, nil
}

var paramCast = regexp.MustCompile(`\$(\d+)::([a-z]+(?:\[\])?)`)

// psqlScript runs the statements as the connector does: databasesSQL on
// its own, then every per-database statement in one repeatable-read,
// read-only transaction, each prepared and executed with the parameters of
// an unfiltered extraction of db (no patterns, every optional field on).
func psqlScript(queries []catalogQuery, db string) (string, error) {
	var b strings.Builder
	b.WriteString("\\set ON_ERROR_STOP 1\n")
	for i, q := range queries {
		args, err := psqlArgs(q, db)
		if err != nil {
			return "", err
		}
		if i == 1 {
			b.WriteString("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n")
		}
		fmt.Fprintf(&b, "PREPARE %s AS %s;\nEXECUTE %s%s;\n", strings.ToLower(q.name), strings.TrimSpace(q.sql), strings.ToLower(q.name), args)
	}
	b.WriteString("COMMIT;\n")
	return b.String(), nil
}

// psqlArgs derives each parameter's value from its cast in the SQL: text is
// the database name, text[] a pattern list (NULL: not filtered), bool an
// "include this optional field" switch (true). databasesSQL's text[] is
// the database list, limited to db like agentctl's --database.
func psqlArgs(q catalogQuery, db string) (string, error) {
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
	lit := "'" + strings.ReplaceAll(db, "'", "''") + "'"
	var vals []string
	for i, n := range nums {
		if n != i+1 {
			return "", fmt.Errorf("%s: parameter $%d is never cast, so its type is unknown", q.name, i+1)
		}
		switch t := paramTypes[n]; {
		case t == "text":
			vals = append(vals, lit)
		case t == "text[]" && q.name == "databasesSQL":
			vals = append(vals, "ARRAY["+lit+"]")
		case t == "text[]":
			vals = append(vals, "NULL")
		case t == "bool":
			vals = append(vals, "true")
		case t == "int":
			// The free-text caps: the default cap's characters, plus the
			// one that tells the Writer a value was longer.
			vals = append(vals, strconv.Itoa(model.DefaultMaxTextBytes+1))
		default:
			return "", fmt.Errorf("%s: parameter $%d has type %s, which the bench does not know how to fill", q.name, n, t)
		}
	}
	return "(" + strings.Join(vals, ", ") + ")", nil
}
