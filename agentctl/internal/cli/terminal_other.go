//go:build !unix

package cli

import "io"

// terminal: without a portable way to ask, progress is written as plain
// lines, which every console shows correctly.
func terminal(io.Writer) (int, bool) { return 0, false }
