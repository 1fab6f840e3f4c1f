package model

import (
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
)

// ReadStream reads one stream written by FileSink (or any stream of this
// agent's schemas) from r, which must hold exactly size bytes, with the same
// checks as ReadFile: for readers whose bytes do not come from a local file
// (the publisher reads staged objects through an output binding). fn gets
// each record batch, released when fn returns. It returns the stream's kind.
func ReadStream(r io.Reader, size int64, fn func(Kind, arrow.Record) error, opts ...IOOption) (Kind, error) {
	if r == nil {
		return "", fmt.Errorf("model: read stream: nil reader")
	}
	if size < 0 {
		return "", fmt.Errorf("model: read stream: negative size %d", size)
	}
	kind, err := readStream(r, size, newIOConfig(opts), fn)
	if err != nil {
		return kind, fmt.Errorf("model: read stream: %w", err)
	}
	return kind, nil
}
