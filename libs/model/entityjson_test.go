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
