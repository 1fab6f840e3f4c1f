package model

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestArrowSchemasGolden pins every kind's schema: a change here is a
// format change for everyone reading the files (bump SchemaVersion).
func TestArrowSchemasGolden(t *testing.T) {
	var b strings.Builder
	for _, k := range Kinds {
		s := ArrowSchema(k)
		require.NotNil(t, s, k)
		md := s.Metadata()
		fmt.Fprintf(&b, "%s\n", k)
		for i, key := range md.Keys() {
			fmt.Fprintf(&b, "  @%s = %s\n", key, md.Values()[i])
		}
		for _, f := range s.Fields() {
			fmt.Fprintf(&b, "  %s\n", describeField(f))
		}
	}
	golden(t, "schemas.golden", []byte(b.String()))
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		got, err := ParseKind(string(k))
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	_, err := ParseKind("tables")
	require.ErrorContains(t, err, `unknown asset kind "tables"`)
}

func TestExcludableFieldsAreNullableStrings(t *testing.T) {
	// The Writer nulls excluded fields in optStr only; an excludable field of
	// another type would silently be written.
	for _, k := range Kinds {
		for _, d := range kindDefs[k] {
			if d.excludable {
				require.True(t, d.nullable, "%s.%s", k, d.name)
				require.Equal(t, str, d.typ, "%s.%s", k, d.name)
			}
		}
	}
	require.ElementsMatch(t, []string{"owner", "comment", "view_definition", "default_value", "generation_expression",
		"check_clause", "predicate", "definition"}, ExcludableFields())
}
