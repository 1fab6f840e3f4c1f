package model

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/require"
)

func TestReadStream(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(sampleDir(t), FileName(KindColumn)))
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	var rows int64
	kind, err := ReadStream(bytes.NewReader(data), int64(len(data)), func(k Kind, rec arrow.Record) error {
		require.Equal(t, KindColumn, k)
		rows += rec.NumRows()
		return nil
	}, WithAllocator(mem))
	require.NoError(t, err)
	require.Equal(t, KindColumn, kind)
	require.Equal(t, newSample().counts()[KindColumn], rows)

	nop := func(Kind, arrow.Record) error { return nil }
	tests := []struct {
		name string
		data []byte
		size int64
		want string
	}{
		{"truncated", data[:len(data)-8], int64(len(data) - 8), "truncated"},
		{"appended", append(bytes.Clone(data), 0, 0, 0, 0), int64(len(data) + 4), "follow the end-of-stream marker"},
		{"not arrow", []byte("hello, world"), 12, "not a readable Arrow IPC stream"},
		{"negative size", data, -1, "negative size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadStream(bytes.NewReader(tc.data), tc.size, nop, WithAllocator(mem))
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "model: read stream")
		})
	}
}
