package model

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExportEntityJSONLGolden(t *testing.T) {
	dir := sampleDir(t)
	var out bytes.Buffer
	counts, err := ExportEntityJSONL(dir, &out)
	require.NoError(t, err)
	golden(t, "entities.golden", out.Bytes())

	require.Equal(t, map[string]int{
		"Database": 1, "Schema": 1, "Table": 5, "View": 1, "MaterializedView": 1, "Column": 4,
		"Constraint": 4, "Index": 2, "Procedure": 2, "Process": 2, "TableStats": 2,
	}, counts)

	// Every line is one JSON object with a typeName and a qualifiedName.
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		var e struct {
			TypeName   string         `json:"typeName"`
			Attributes map[string]any `json:"attributes"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		require.NotEmpty(t, e.TypeName)
		require.NotEmpty(t, e.Attributes["qualifiedName"])
		for k, v := range e.Attributes {
			require.NotNil(t, v, "%s: null attribute %s must be omitted", e.TypeName, k)
		}
		lines++
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	require.Equal(t, total, lines)

	var again bytes.Buffer
	_, err = ExportEntityJSONL(dir, &again)
	require.NoError(t, err)
	require.Equal(t, out.String(), again.String(), "deterministic")
}

func TestExportEntityJSONLRefusesUnfinishedDir(t *testing.T) {
	_, err := ExportEntityJSONL(t.TempDir(), &bytes.Buffer{})
	require.ErrorContains(t, err, "has no manifest.json")
}

func TestParentQN(t *testing.T) {
	require.Equal(t, "default/pg/1/db/s", parentQN("default/pg/1/db/s/t"))
	require.Equal(t, "", parentQN("t"))
	require.Equal(t, "", parentQN(""))
	require.Equal(t, "t", lastSegment("a/b/t"))
	require.Equal(t, "t", lastSegment("t"))
}

func TestTombstonesExportAsDeletedEntities(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewFileSink(dir)
	require.NoError(t, err)
	w, err := NewWriter(sink, WriterOptions{JobID: "job-2", ExtractedAt: sampleTime})
	require.NoError(t, err)
	require.NoError(t, w.Tombstone(Tombstone{QualifiedName: "c/db/s/t", ParentQualifiedName: "c/db/s", AssetKind: KindTable, Reason: ReasonDropped}))
	require.NoError(t, w.Tombstone(Tombstone{QualifiedName: "c/db/s/t/id", ParentQualifiedName: "c/db/s/t", AssetKind: KindColumn, Reason: ReasonExcluded}))
	require.ErrorContains(t, w.Tombstone(Tombstone{QualifiedName: "c/db/s/u", AssetKind: KindTable, Reason: "gone"}), `reason "gone"`)
	require.ErrorContains(t, w.Tombstone(Tombstone{QualifiedName: "c/db/s/u", AssetKind: KindTombstone, Reason: ReasonDropped}), "not an asset kind")
	require.NoError(t, w.Close())
	files, err := sink.Close()
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.Equal(t, KindTombstone, files[0].Kind)
	require.NoError(t, WriteManifest(dir, Manifest{JobID: "job-2", Files: files}))
	var out bytes.Buffer
	counts, err := ExportEntityJSONL(dir, &out)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"Table": 1, "Column": 1}, counts)
	require.Contains(t, out.String(), `{"typeName":"Table","status":"DELETED","attributes":{"qualifiedName":"c/db/s/t","deleteReason":"dropped"`)
}
