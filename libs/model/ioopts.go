package model

import "github.com/apache/arrow/go/v17/arrow/memory"

// IOOption configures FileSink and ReadFile.
type IOOption func(*ioConfig)

type ioConfig struct {
	mem       memory.Allocator
	readLimit int64 // bytes a read may hold at once; 0: readLimit(file size)
}

// WithAllocator makes Arrow buffers come from mem (tests pass a
// memory.CheckedAllocator to prove nothing leaks).
func WithAllocator(mem memory.Allocator) IOOption {
	return func(c *ioConfig) {
		if mem != nil {
			c.mem = mem
		}
	}
}

func newIOConfig(opts []IOOption) ioConfig {
	c := ioConfig{mem: memory.NewGoAllocator()}
	for _, o := range opts {
		o(&c)
	}
	return c
}
