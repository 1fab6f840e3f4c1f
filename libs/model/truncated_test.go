package model

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/require"
)

func TestTruncateTextKeepsUTF8Whole(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 6, "abcdef"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},                  // é is 2 bytes: not split
		{"a€b", 3, "a"},                 // € is 3 bytes
		{"a€b", 4, "a€"},                // fits exactly
		{"€€", 1, ""},                   // nothing fits
		{"\xff\xfe\xfd", 2, "\xff\xfe"}, // invalid UTF-8: bytes are cut as bytes
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, TruncateText(tc.s, tc.n), "%q cut at %d", tc.s, tc.n)
	}
}

func TestValidateMaxTextBytes(t *testing.T) {
	for _, ok := range []int{0, 1, DefaultMaxTextBytes, MaxMaxTextBytes} {
		require.NoError(t, ValidateMaxTextBytes(ok), ok)
	}
	for _, bad := range []int{-1, MaxMaxTextBytes + 1} {
		require.ErrorContains(t, ValidateMaxTextBytes(bad), "use 1 to", bad)
	}
	_, err := NewWriter(&memSink{}, WriterOptions{JobID: "j", MaxTextBytes: -5})
	require.ErrorContains(t, err, "max text bytes")
	w, err := NewWriter(&memSink{}, WriterOptions{JobID: "j"})
	require.NoError(t, err)
	require.Equal(t, DefaultMaxTextBytes, w.MaxTextBytes())
}

func TestTextFieldsAreStrings(t *testing.T) {
	// Every text field is capped by str, optStr or strs; the truncated
	// list is the last field of exactly the kinds that have text fields.
	for _, k := range Kinds {
		defs := kindDefs[k]
		texts := TextFields(k)
		for _, d := range defs {
			if d.text {
				require.True(t, d.typ == str || d.typ == strList, "%s.%s", k, d.name)
			}
		}
		if len(texts) == 0 {
			require.NotEqual(t, FieldTruncated, defs[len(defs)-1].name, k)
			continue
		}
		require.Equal(t, FieldTruncated, defs[len(defs)-1].name, "%s: truncated_fields comes last", k)
	}
	require.Equal(t, []string{"comment", "view_definition"}, TextFields(KindTable))
	require.Equal(t, []string{"arguments", "return_type", "definition", "comment"}, TextFields(KindRoutine))
	require.Empty(t, TextFields(KindLineage))
}

// longRows has a value over an 8-byte cap in every text field of
// table, column, index and routine, and one row that fits exactly.
func writeLongRows(t *testing.T, w *Writer) {
	t.Helper()
	long := "0123456789abcdef"
	n := Names{Connection: "c", Database: "d", Schema: "s", Table: "t"}
	require.NoError(t, w.Table(Table{QualifiedName: n.TableQN(), ParentQualifiedName: n.SchemaQN(), Database: "d", Schema: "s",
		Name: "t", Kind: TableKindView, Owner: Ptr(long), Comment: Ptr("né" + long), ViewDefinition: Ptr(long)}))
	require.NoError(t, w.Table(Table{QualifiedName: n.TableQN() + "2", ParentQualifiedName: n.SchemaQN(), Database: "d", Schema: "s",
		Name: "t2", Kind: TableKindTable, Comment: Ptr("12345678")}))
	require.NoError(t, w.Column(Column{QualifiedName: n.ChildQN("a"), ParentQualifiedName: n.TableQN(), Database: "d", Schema: "s",
		Table: "t", Name: "a", Ordinal: 1, DataType: long, Default: Ptr(long), GenerationExpression: Ptr("x"), Comment: Ptr(long)}))
	require.NoError(t, w.Index(Index{QualifiedName: n.ChildQN("i"), ParentQualifiedName: n.TableQN(), Database: "d", Schema: "s",
		Table: "t", Name: "i", Columns: []string{"a", "lower(" + long + ")"}, Predicate: Ptr("a > 0")}))
	require.NoError(t, w.Routine(Routine{QualifiedName: n.RoutineQN("f", ""), ParentQualifiedName: n.SchemaQN(), Database: "d",
		Schema: "s", Name: "f", Kind: RoutineFunction, Arguments: long, ReturnType: Ptr("int"), Definition: Ptr(long),
		Comment: Ptr(long)}))
}

func TestWriterCapsTextFields(t *testing.T) {
	sink := &memSink{}
	defer sink.release()
	w := newTestWriter(t, sink, WriterOptions{MaxTextBytes: 8, ExcludeFields: []string{"definition"}})
	writeLongRows(t, w)
	require.NoError(t, w.Close())

	var d decoded
	for i, rec := range sink.recs {
		decodeRecord(&d, sink.kinds[i], rec)
	}
	require.Len(t, d.tables, 2)
	tbl := d.tables[0]
	require.Equal(t, "0123456789abcdef", *tbl.Owner, "owner is a name, not capped")
	require.Equal(t, "né01234", *tbl.Comment, "8 bytes: é is two")
	require.Equal(t, "01234567", *tbl.ViewDefinition)
	require.Equal(t, []string{"comment", "view_definition"}, tbl.TruncatedFields)
	require.Equal(t, "12345678", *d.tables[1].Comment, "a value of exactly the cap is whole")
	require.Nil(t, d.tables[1].TruncatedFields)

	col := d.columns[0]
	require.Equal(t, "01234567", col.DataType)
	require.Equal(t, []string{"data_type", "default_value", "comment"}, col.TruncatedFields)

	idx := d.indexes[0]
	require.Equal(t, []string{"a", "lower(01"}, idx.Columns)
	require.Equal(t, []string{"columns"}, idx.TruncatedFields)

	r := d.routines[0]
	require.Nil(t, r.Definition, "excluded fields are null, not truncated")
	require.Equal(t, []string{"arguments", "comment"}, r.TruncatedFields)

	require.Equal(t, map[Kind]int64{KindTable: 2, KindColumn: 3, KindIndex: 1, KindRoutine: 2}, w.Truncated())
}

func TestWriterMergesGivenTruncatedFields(t *testing.T) {
	sink := &memSink{}
	defer sink.release()
	w := newTestWriter(t, sink, WriterOptions{MaxTextBytes: 4})
	n := Names{Connection: "c", Database: "d", Schema: "s"}
	bad := Schema{QualifiedName: n.SchemaQN(), ParentQualifiedName: n.DatabaseQN(), Database: "d", Name: "s",
		TruncatedFields: []string{"owner"}}
	require.ErrorContains(t, w.Schema(bad), `lists "owner" as truncated; its text fields are comment`)

	// The refused row left nothing half-written behind.
	require.NoError(t, w.Table(Table{QualifiedName: "c/d/s/t", ParentQualifiedName: n.SchemaQN(), Database: "d", Schema: "s",
		Name: "t", Kind: TableKindView, Comment: Ptr("long comment"), ViewDefinition: Ptr("x"),
		TruncatedFields: []string{"view_definition"}}))
	require.NoError(t, w.Close())
	var d decoded
	for i, rec := range sink.recs {
		decodeRecord(&d, sink.kinds[i], rec)
	}
	require.Len(t, d.tables, 1)
	require.Empty(t, d.schemas)
	require.Equal(t, []string{"comment", "view_definition"}, d.tables[0].TruncatedFields, "schema order, given and cut")
	require.Equal(t, map[Kind]int64{KindTable: 2}, w.Truncated())
}

func TestTruncationCountedInFilesManifestAndEntities(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := filepath.Join(t.TempDir(), "out")
	sink, err := NewFileSink(dir, WithAllocator(mem))
	require.NoError(t, err)
	w := newTestWriter(t, sink, WriterOptions{MaxTextBytes: 8, MaxRows: 1, Allocator: mem})
	writeLongRows(t, w)
	require.NoError(t, w.Close())
	files, err := sink.Close()
	require.NoError(t, err)
	byKind := map[Kind]int64{}
	for _, f := range files {
		byKind[f.Kind] = f.Truncated
	}
	want := map[Kind]int64{KindTable: 2, KindColumn: 3, KindIndex: 1, KindRoutine: 3}
	require.Equal(t, want, byKind)
	require.Equal(t, want, w.Truncated())

	require.NoError(t, WriteManifest(dir, Manifest{JobID: "job-1", Source: ManifestSource{Kind: "postgres", Connection: "c", MaxTextBytes: 8},
		StartedAt: sampleTime, FinishedAt: sampleTime, Files: files}))
	m, err := ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, want, m.Truncated)
	require.Equal(t, 8, m.Source.MaxTextBytes)
	require.NoError(t, VerifyDir(dir))

	var out bytes.Buffer
	_, err = ExportEntityJSONL(dir, &out)
	require.NoError(t, err)
	var view struct {
		Attributes struct {
			TruncatedFields []string `json:"truncatedFields"`
		} `json:"attributes"`
	}
	line, _, _ := strings.Cut(out.String()[strings.Index(out.String(), `{"typeName":"View"`):], "\n")
	require.NoError(t, json.Unmarshal([]byte(line), &view))
	require.Equal(t, []string{"comment", "view_definition"}, view.Attributes.TruncatedFields)

	// A manifest whose counts disagree with its files is refused.
	m.Truncated[KindColumn] = 1
	_, err = EncodeManifest(m)
	require.ErrorContains(t, err, "column: the files have 3 truncated values but the total is 1")
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	require.NoError(t, err)
	tampered := strings.Replace(string(data), `"truncated": 3`, `"truncated": 0`, 1)
	require.NotEqual(t, string(data), tampered)
	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(tampered), 0o640))
	require.ErrorContains(t, VerifyDir(dir), "holds 3 truncated values, the manifest says 0")
}
