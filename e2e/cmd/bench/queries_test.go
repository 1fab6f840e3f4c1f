package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The psql floor runs the connector's own statements with the parameters
// of an unfiltered, unpartitioned extraction: a partition's range bounds
// are NULL, as agentctl passes them. (They were filled with the database
// name, which selected no table at all and made case b's floor 12 s
// instead of the columns statement's 38 s alone.)
// databaseParam is $1 cast to text (databasesSQL's $1 is a text[]).
var databaseParam = regexp.MustCompile(`\$1::text([^\[]|$)`)

func TestPsqlFloorPassesNoRangeBounds(t *testing.T) {
	sql, err := connectorQueries(filepath.Join("..", "..", "..", "services", "extractor", "connector", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	bounded := 0
	for _, q := range sql.statements {
		args, err := psqlArgs(q, "db", nil)
		if err != nil {
			t.Fatal(err)
		}
		vals := strings.Split(strings.Trim(args, "()"), ", ")
		for _, m := range rangeBound.FindAllStringSubmatch(q.sql, -1) {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				t.Fatal(err)
			}
			bounded++
			if got := vals[n-1]; got != "NULL" {
				t.Errorf("%s: $%d bounds a range of table names and gets %s, not NULL", q.name, n, got)
			}
		}
		if databaseParam.MatchString(q.sql) && vals[0] != "'db'" {
			t.Errorf("%s: $1 is the database name, got %s", q.name, vals[0])
		}
	}
	if bounded == 0 {
		t.Fatal("no statement has a range bound: the connector's statements changed; check rangeBound")
	}
}
