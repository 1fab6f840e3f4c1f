package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// The SQLite counterpart of "server down": every way the dsn can point at
// something that is not a readable database fails fast with its own
// message naming the path and the fix.
func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	garbage := append([]byte("SQLite format 3\x00"), make([]byte, 4096)...)
	for i := 16; i < len(garbage); i++ {
		garbage[i] = byte(i * 7)
	}
	tests := []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "missing.db"), []string{"does not exist", "missing.db", "check the path"}},
		{"missing directory", filepath.Join(dir, "no", "such", "x.db"), []string{"does not exist"}},
		{"directory", dir, []string{"is a directory"}},
		{"text file", write("notes.db", []byte(strings.Repeat("not a database\n", 20))), []string{"is not a SQLite 3 database", "notes.db"}},
		{"short file", write("short.db", []byte("SQLite")), []string{"is not a SQLite 3 database"}},
		{"corrupt body", write("corrupt.db", garbage), []string{"corrupt.db", "not a readable SQLite database", "intact"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(tc.path)
			src.ConnectTimeout = 2 * time.Second
			took, err := openErr(src)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.Less(t, took, src.ConnectTimeout)
			_, statErr := os.Stat(filepath.Join(dir, "missing.db"))
			require.True(t, errors.Is(statErr, os.ErrNotExist), "the connector must never create the file")
		})
	}
}

// A zero-length file is what SQLite calls an empty database.
func TestEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	sink, st := extract(t, source(path), model.WriterOptions{})
	require.Equal(t, 1, sink.count(model.KindDatabase))
	require.Equal(t, 1, sink.count(model.KindSchema))
	require.Zero(t, sink.count(model.KindTable))
	require.Equal(t, 8, st.Queries)
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Zero(t, info.Size(), "the empty file stays empty")
}

// A writer holding an exclusive lock makes Open wait at most the connect
// timeout, then say what is going on.
func TestLockedFile(t *testing.T) {
	path := createDB(t, "busy.db", "CREATE TABLE a (x); INSERT INTO a VALUES (1);")
	writer, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer writer.Close()
	conn, err := writer.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE")
	require.NoError(t, err)
	defer conn.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck

	src := source(path)
	src.ConnectTimeout = 300 * time.Millisecond
	took, err := openErr(src)
	require.Error(t, err)
	require.ErrorContains(t, err, "locked")
	require.ErrorContains(t, err, "busy.db")
	require.GreaterOrEqual(t, took, 250*time.Millisecond, "waited for the lock")
	require.Less(t, took, 3*time.Second, "bounded by the connect timeout")
}

func TestDSNForms(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "odd ?#&%=name Ü.sqlite3")
	// Created under a plain name: given to a driver as a path, "?" would
	// start parameters.
	require.NoError(t, os.Rename(createDB(t, "plain.db", "CREATE TABLE a (x);"), odd))

	tests := []struct {
		name, dsn string
		dbs       []string
		wantDB    string
	}{
		{"plain path", odd, nil, "odd ?#&%=name Ü"},
		{"file URI", "file://" + escapeForTest(odd), nil, "odd ?#&%=name Ü"},
		{"file URI localhost", "file://localhost" + escapeForTest(odd) + "?mode=ro", nil, "odd ?#&%=name Ü"},
		{"file URI immutable", "file:" + escapeForTest(odd) + "?immutable=1", nil, "odd ?#&%=name Ü"},
		{"database name given", odd, []string{"Sales DB"}, "Sales DB"},
		{"every database: the file's", odd, []string{connector.AllDatabases}, "odd ?#&%=name Ü"},
		{"file URI, upper case scheme", "FILE:" + escapeForTest(odd), nil, "odd ?#&%=name Ü"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(tc.dsn)
			src.Databases = tc.dbs
			sink, _ := extract(t, src, model.WriterOptions{})
			require.Equal(t, tc.wantDB, sink.rows[model.KindDatabase][0]["database_name"])
			require.Equal(t, 1, sink.count(model.KindTable))
		})
	}
}

// escapeForTest percent-encodes what a file: URI cannot carry literally.
func escapeForTest(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23", " ", "%20")
	return r.Replace(p)
}

func TestDSNRefused(t *testing.T) {
	path := createDB(t, "shop.db", "CREATE TABLE a (x);")
	const secret = "s3cret-Key"
	tests := []struct {
		name       string
		dsn        string
		allow      bool
		dbs        []string
		wantInline bool
		want       string
	}{
		{"key parameter", "file:" + path + "?key=" + secret, false, nil, true, ""},
		{"key pragma", "file:" + path + "?_pragma=key('" + secret + "')", false, nil, true, ""},
		{"password in authority", "file://u:" + secret + "@localhost" + path, false, nil, true, ""},
		{"key allowed but unsupported", "file:" + path + "?key=" + secret, true, nil, false, "reads only unencrypted files"},
		{"read-write mode", "file:" + path + "?mode=rwc", false, nil, false, "always opens the file read-only"},
		{"other pragma", "file:" + path + "?_pragma=journal_mode(WAL)", false, nil, false, `"_pragma" is not supported`},
		{"unknown parameter", "file:" + path + "?cache=shared", false, nil, false, `"cache" is not supported`},
		{"remote host", "file://fileserver" + path, false, nil, false, "reads local files only"},
		{"memory", ":memory:", false, nil, false, "in-memory"},
		{"memory URI", "file::memory:", false, nil, false, "in-memory"},
		{"two databases", path, false, []string{"a", "b"}, false, "at most one name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(tc.dsn)
			src.AllowInlinePassword = tc.allow
			src.Databases = tc.dbs
			_, err := openErr(src)
			require.Error(t, err)
			require.NotContains(t, err.Error(), secret)
			if tc.wantInline {
				require.ErrorIs(t, err, connector.ErrInlinePassword)
			} else {
				require.NotErrorIs(t, err, connector.ErrInlinePassword)
				require.ErrorContains(t, err, tc.want)
			}
		})
	}
}
