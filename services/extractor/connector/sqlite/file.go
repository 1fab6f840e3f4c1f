package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// fileHeader is what the first 100 bytes of a database file say
// (https://www.sqlite.org/fileformat.html#the_database_header).
type fileHeader struct {
	empty bool // a zero-length file, which SQLite reads as an empty database
	wal   bool // write format 2
	// writerVersion is SQLITE_VERSION_NUMBER of the library that last wrote
	// the file, e.g. 3045001.
	writerVersion int
}

const headerMagic = "SQLite format 3\x00"

// inspectFile checks in Go, before SQLite sees the path, that it is a
// readable SQLite 3 file, so every way of pointing at the wrong thing gets
// its own message instead of SQLite's "unable to open database file".
func inspectFile(path string) (fileHeader, error) {
	// Stat before opening: opening a FIFO would block.
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fileHeader{}, fmt.Errorf("SQLite file %s does not exist: check the path in the dsn (the connector never creates files)", path)
	case errors.Is(err, fs.ErrPermission):
		return fileHeader{}, fmt.Errorf("cannot reach SQLite file %s: permission denied on a directory of the path: "+
			"grant the agent's user search (x) permission on every directory leading to the file", path)
	case err != nil:
		return fileHeader{}, fmt.Errorf("cannot stat SQLite file %s: %w", path, err)
	case st.IsDir():
		return fileHeader{}, fmt.Errorf("%s is a directory: set the dsn to the database file inside it", path)
	case !st.Mode().IsRegular():
		return fileHeader{}, fmt.Errorf("%s is not a regular file (%s): set the dsn to a SQLite database file", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fileHeader{}, fmt.Errorf("cannot read SQLite file %s: permission denied: grant the agent's user read permission on it "+
			"(e.g. chmod g+r on the file and add the user to its group)", path)
	case err != nil:
		return fileHeader{}, fmt.Errorf("cannot open SQLite file %s: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	n, err := io.ReadFull(f, buf)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return fileHeader{empty: true}, nil
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fileHeader{}, fmt.Errorf("cannot read SQLite file %s: %w", path, err)
	case n < len(buf) || string(buf[:len(headerMagic)]) != headerMagic:
		return fileHeader{}, fmt.Errorf("%s is not a SQLite 3 database: its header does not start with %q "+
			"(it may be encrypted, compressed, truncated or another kind of file): set the dsn to an unencrypted SQLite 3 file",
			path, "SQLite format 3")
	}
	return fileHeader{
		wal:           buf[18] == 2,
		writerVersion: int(binary.BigEndian.Uint32(buf[96:100])),
	}, nil
}

// formatVersion turns 3045001 into "3.45.1".
func formatVersion(n int) string {
	return fmt.Sprintf("%d.%d.%d", n/1000000, n/1000%1000, n%1000)
}
