package model

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestEscapeSegment(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "orders", "orders"},
		{"empty", "", ""},
		{"slash", "a/b", "a%2Fb"},
		{"percent", "50%", "50%25"},
		{"literal %2F stays distinct from a slash", "%2F", "%252F"},
		{"literal %25", "%25", "%2525"},
		{"lower-case escape look-alike", "%2f", "%252f"},
		{"dots kept", "sales.eu", "sales.eu"},
		{"quotes kept", `"Quoted" 'x'`, `"Quoted" 'x'`},
		{"spaces kept", " lead and trail ", " lead and trail "},
		{"unicode kept", "über/日本", "über%2F日本"},
		{"only slashes", "//", "%2F%2F"},
		{"mixed", "a%/b", "a%25%2Fb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := EscapeSegment(tc.in)
			require.Equal(t, tc.want, got)
			require.NotContains(t, got, "/")
			require.Equal(t, tc.in, UnescapeSegment(got), "round trip")
		})
	}
}

func TestQualifiedNames(t *testing.T) {
	n := Names{Connection: "default/postgres/1700000000", Database: "shop", Schema: "sa/les", Table: "50%"}
	require.Equal(t, "default/postgres/1700000000/shop", n.DatabaseQN())
	require.Equal(t, "default/postgres/1700000000/shop/sa%2Fles", n.SchemaQN())
	require.Equal(t, "default/postgres/1700000000/shop/sa%2Fles/50%25", n.TableQN())
	require.Equal(t, "default/postgres/1700000000/shop/sa%2Fles/50%25/a%2Fb", n.ChildQN("a/b"))
	require.Equal(t, "default/postgres/1700000000/shop/sa%2Fles/f(integer, text%2Fx)", n.RoutineQN("f", "integer, text/x"))
	require.NotEqual(t, n.RoutineQN("f", "integer"), n.RoutineQN("f", "text"), "overloads stay distinct")
	require.Equal(t, n.TableQN()+"/@lineage/"+EscapeSegment(n.ChildQN("x")), LineageQN(n.TableQN(), n.ChildQN("x")))
	require.Equal(t, "conn/a/b", QualifiedName("conn", "a", "b"))
	require.Equal(t, "conn", QualifiedName("conn"))

	// Segments are recoverable by splitting after the connection.
	segs := strings.Split(strings.TrimPrefix(n.ChildQN("a/b"), n.Connection+"/"), "/")
	var got []string
	for _, s := range segs {
		got = append(got, UnescapeSegment(s))
	}
	require.Equal(t, []string{"shop", "sa/les", "50%", "a/b"}, got)
}

func FuzzEscapeSegment(f *testing.F) {
	for _, s := range []string{"", "a/b", "%", "%2F", "%25", "%%2F/", "über", "\xff\xfe", "a.b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeSegment(s)
		if strings.Contains(e, "/") {
			t.Fatalf("EscapeSegment(%q) = %q contains '/'", s, e)
		}
		if got := UnescapeSegment(e); got != s {
			t.Fatalf("UnescapeSegment(EscapeSegment(%q)) = %q", s, got)
		}
		if utf8.ValidString(s) != utf8.ValidString(e) {
			t.Fatalf("escaping changed UTF-8 validity of %q", s)
		}
		// Distinct names stay distinct when joined into a qualified name.
		if q := QualifiedName("c", s, "x"); UnescapeSegment(strings.Split(q, "/")[1]) != s {
			t.Fatalf("segment of %q not recoverable from %q", s, q)
		}
	})
}
