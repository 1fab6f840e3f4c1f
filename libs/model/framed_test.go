package model

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// framed rewrites an Arrow-compressed stream as a framed one, the way the
// extractor stages its files.
func framed(t *testing.T, data []byte) []byte {
	t.Helper()
	out, err := Frame(data)
	require.NoError(t, err)
	return out
}

func TestReadFramedStream(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join(sampleDir(t), FileName(KindColumn)))
	require.NoError(t, err)
	data := framed(t, plain)
	require.True(t, bytes.HasPrefix(data, zstdMagic))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	read := func(data []byte) (map[string]int64, error) {
		rows := map[string]int64{}
		_, err := ReadStream(bytes.NewReader(data), int64(len(data)), func(k Kind, rec arrow.Record) error {
			c := newColumns(rec)
			for i := 0; i < int(rec.NumRows()); i++ {
				b, err := json.Marshal(entityOf(k, c, i))
				require.NoError(t, err)
				rows[string(b)]++
			}
			return nil
		}, WithAllocator(mem))
		return rows, err
	}
	want, err := read(plain)
	require.NoError(t, err)
	got, err := read(data)
	require.NoError(t, err)
	require.Equal(t, want, got, "the framed stream holds the rows of the plain one")
	require.NotEmpty(t, got)

	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0xff
	// A frame holding more than the stream: an end-of-stream marker, then
	// more data.
	var extra bytes.Buffer
	enc, err := NewFramedEncoder()
	require.NoError(t, err)
	enc.Reset(&extra)
	// A decoder made for DecodeAll alone: one given a reader starts a
	// stream decode that can hold every block decoder DecodeAll waits for
	// (on 2 cores the test hung for its full 10 minutes).
	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	inner, err := dec.DecodeAll(data, nil)
	require.NoError(t, err)
	dec.Close()
	_, _ = enc.Write(append(inner, 1, 2, 3))
	require.NoError(t, enc.Close())
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", data[:len(data)-8], "truncated"},
		{"cut at the frame's middle", data[:len(data)/2], "truncated"},
		{"bytes after the frame", append(bytes.Clone(data), 9, 9, 9, 9, 9), "other bytes follow it"},
		{"a byte changed", flipped, "read stream"},
		{"data after the end-of-stream marker", extra.Bytes(), "data follows the end-of-stream marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(tc.data)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A frame whose stream is larger than its file's read limit is refused
// when the limit is reached, not decoded on.
func TestReadFramedStreamBeyondItsLimit(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join(sampleDir(t), FileName(KindColumn)))
	require.NoError(t, err)
	data := framed(t, plain)
	cfg := ioConfig{mem: memory.NewGoAllocator(), readLimit: 600}
	_, err = readStream(bytes.NewReader(data), int64(len(data)), cfg, func(Kind, arrow.Record) error { return nil })
	require.ErrorContains(t, err, "larger than 600 bytes")
}
