package model

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

// ManifestVersion is the manifest format this agent writes and reads.
const ManifestVersion = 1

// Manifest describes one extraction's output directory. It is written last:
// a directory without one is incomplete.
type Manifest struct {
	Version    int            `json:"version"`
	JobID      string         `json:"job_id"`
	Source     ManifestSource `json:"source"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
	Files      []FileInfo     `json:"files"`
	Rows       map[Kind]int64 `json:"rows"`
	// Truncated counts, per kind, the field values cut at the text cap
	// (Source.MaxTextBytes); the rows say which fields (truncated_fields).
	Truncated map[Kind]int64 `json:"truncated"`
	Queries   int            `json:"queries"`
	// Partitions is set by the job pipeline: which extraction run of each
	// partition the files come from.
	Partitions []ManifestPartition `json:"partitions,omitempty"`
	// Mode is how the pipeline shipped the catalog (ADR 0015): ModeFull
	// (every asset) or ModeIncremental (created and updated assets);
	// both ship tombstones. Empty for a local extraction.
	Mode string `json:"mode,omitempty"`
	// Base is the job whose catalog state this run was compared with;
	// empty for the first run of a connection.
	Base string `json:"base,omitempty"`
	// Changes counts, per asset kind, what the run did to the catalog.
	Changes map[Kind]ChangeCounts `json:"changes,omitempty"`
	// FailSafes lists the fail-safes that withheld deletions.
	FailSafes []FailSafe `json:"fail_safes,omitempty"`
	// Consistency says which state of the source's catalog the rows
	// describe (Consistency(Source.Kind)).
	Consistency string `json:"consistency,omitempty"`
}

// consistency is, per source kind, what a reader of the manifest may
// assume about the moment its rows describe (docs/connectors.md).
var consistency = map[string]string{
	"postgres": "one snapshot per database: every catalog statement reads the same repeatable-read snapshot; " +
		"view definitions are read in short transactions of at most 256 views that import it (pg_export_snapshot), " +
		"so no lock is held on more than one chunk's relations; text printed by pg_get_* functions " +
		"(view definitions, defaults, index expressions, routine bodies) is what the system catalogs held when it was read",
	"mysql": "none across statements: information_schema is not transactional, so each statement reads the catalog " +
		"as it is when it runs; DDL during the extraction can show a table without the columns or indexes it gained meanwhile",
	"sqlite": "one snapshot: every statement runs in one read transaction on the file",
}

// Consistency is the consistency statement of a source kind's manifests
// ("" for a kind without one).
func Consistency(kind string) string { return consistency[kind] }

// Modes of a pipeline run.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
)

// ChangeCounts are one kind's changes against the last run.
type ChangeCounts struct {
	Created   int64 `json:"created"`
	Updated   int64 `json:"updated"`
	Unchanged int64 `json:"unchanged"`
	Deleted   int64 `json:"deleted"`
	// Withheld deletions (a fail-safe triggered): still in the catalog.
	Withheld int64 `json:"withheld,omitempty"`
}

// FailSafe is a fail-safe that withheld a run's deletions.
type FailSafe struct {
	Name     string         `json:"name"`
	Message  string         `json:"message"`
	Withheld map[Kind]int64 `json:"withheld"`
}

// ManifestPartition is one partition of a pipeline job.
type ManifestPartition struct {
	ID       string         `json:"id"`
	Database string         `json:"database"`
	Schemas  []string       `json:"schemas,omitempty"`
	Tables   *TableRange    `json:"tables,omitempty"`
	Run      string         `json:"run"`
	Rows     map[Kind]int64 `json:"rows"`
}

// ManifestSource is what was extracted; never the DSN or a credential.
type ManifestSource struct {
	Kind          string   `json:"kind"`
	Connection    string   `json:"connection"`
	Databases     []string `json:"databases,omitempty"`
	Filters       any      `json:"filters,omitempty"`
	ExcludeFields []string `json:"exclude_fields,omitempty"`
	// MaxTextBytes is the cap free-text fields were cut at.
	MaxTextBytes int `json:"max_text_bytes,omitempty"`
}

// WriteManifest writes dir/manifest.json durably (temp file, fsync,
// rename), which marks the directory's files complete. Version 0 means
// ManifestVersion; nil Rows and Truncated are taken from Files.
func WriteManifest(dir string, m Manifest) error {
	data, err := EncodeManifest(m)
	if err != nil {
		return err
	}
	final := filepath.Join(dir, ManifestFile)
	tmp := final + tmpSuffix
	if err := writeSynced(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("model: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("model: write %s: %w", final, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("model: write %s: %w", final, err)
	}
	return nil
}

// EncodeManifest checks m and encodes it as manifest.json's content, for
// writers that store it elsewhere than a local directory (the publisher
// writes it through an output binding). Version 0 means ManifestVersion;
// nil Rows and Truncated are taken from Files.
func EncodeManifest(m Manifest) ([]byte, error) {
	if m.Version == 0 {
		m.Version = ManifestVersion
	}
	if m.Rows == nil {
		m.Rows = map[Kind]int64{}
		for _, f := range m.Files {
			m.Rows[f.Kind] += f.Rows
		}
	}
	if m.Truncated == nil {
		m.Truncated = truncatedByKind(m.Files)
	}
	err := checkManifest(m)
	if err == nil {
		err = checkRowTotals(m)
	}
	if err != nil {
		return nil, fmt.Errorf("model: refusing to write an inconsistent manifest: %w", err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("model: encode manifest: %w", err)
	}
	return append(data, '\n'), nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadManifest reads and checks dir/manifest.json.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, fmt.Errorf("model: %s has no %s: it is not an extraction output directory, or the extraction did not finish", dir, ManifestFile)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("model: read %s: %w", path, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("model: %s is not a valid manifest: %w", path, err)
	}
	if m.Version != ManifestVersion {
		return Manifest{}, fmt.Errorf("model: %s has format version %d; this agent reads version %d: use the agent version that wrote it", path, m.Version, ManifestVersion)
	}
	if err := checkManifest(m); err != nil {
		return Manifest{}, fmt.Errorf("model: %s: %w", path, err)
	}
	return m, nil
}

// checkManifest refuses file entries that could point outside the
// directory (a manifest may come from elsewhere) or repeat a file. A kind
// may have several files (the pipeline compacts per partition).
func checkManifest(m Manifest) error {
	var problems []string
	seen := map[string]bool{}
	for _, f := range m.Files {
		if _, err := ParseKind(string(f.Kind)); err != nil {
			problems = append(problems, fmt.Sprintf("file %q: %v", f.Name, err))
		}
		if seen[f.Name] {
			problems = append(problems, fmt.Sprintf("file %q is listed twice", f.Name))
		}
		seen[f.Name] = true
		if !localFileName(f.Name) {
			problems = append(problems, fmt.Sprintf("file %q must be a relative path inside the directory ending in .arrows", f.Name))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// VerifyDir checks an output directory against its manifest: every listed
// file exists with the recorded size, sha256 and row count, and the row
// counts agree with the manifest's totals. It reports every problem, each
// naming its file.
func VerifyDir(dir string) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	var problems []string
	for _, f := range m.Files {
		if err := verifyFile(dir, f); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Name, err))
		}
	}
	if err := checkRowTotals(m); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("model: %s does not match its manifest (files altered, truncated or missing; re-run the extraction):\n  - %s", dir, strings.Join(problems, "\n  - "))
	}
	return nil
}

// truncatedByKind sums the files' truncated values per kind, listing only
// kinds that have any.
func truncatedByKind(files []FileInfo) map[Kind]int64 {
	out := map[Kind]int64{}
	for _, f := range files {
		if f.Truncated > 0 {
			out[f.Kind] += f.Truncated
		}
	}
	return out
}

// checkRowTotals checks the per-kind totals of rows and of truncated
// values agree with the files'.
func checkRowTotals(m Manifest) error {
	var problems []string
	listed := map[Kind]int64{}
	for _, f := range m.Files {
		listed[f.Kind] += f.Rows
	}
	for _, k := range FileKinds {
		rows, ok := listed[k]
		if n := m.Rows[k]; n != rows {
			if ok {
				problems = append(problems, fmt.Sprintf("%s: the files have %d rows but the total is %d", k, rows, n))
			} else {
				problems = append(problems, fmt.Sprintf("%s: the total is %d but no file is listed", k, n))
			}
		}
	}
	for k := range m.Rows {
		if _, err := ParseKind(string(k)); err != nil {
			problems = append(problems, fmt.Sprintf("rows: %v", err))
		}
	}
	cut := truncatedByKind(m.Files)
	for _, f := range m.Files {
		if f.Truncated < 0 {
			problems = append(problems, fmt.Sprintf("file %q: truncated is %d", f.Name, f.Truncated))
		}
	}
	for _, k := range FileKinds {
		if n := m.Truncated[k]; n != cut[k] {
			problems = append(problems, fmt.Sprintf("%s: the files have %d truncated values but the total is %d", k, cut[k], n))
		}
	}
	for k := range m.Truncated {
		if _, err := ParseKind(string(k)); err != nil {
			problems = append(problems, fmt.Sprintf("truncated: %v", err))
		}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// verifyFile hashes the file first and parses it only if the hash matches,
// so a tampered file never reaches the Arrow decoder.
func verifyFile(dir string, f FileInfo) error {
	path := filepath.Join(dir, f.Name)
	size, sum, err := hashFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("missing")
	}
	if err != nil {
		return err
	}
	if size != f.Bytes {
		return fmt.Errorf("size is %d bytes, the manifest says %d", size, f.Bytes)
	}
	if sum != f.SHA256 {
		return fmt.Errorf("sha256 is %s, the manifest says %s", sum, f.SHA256)
	}
	var rows, cut int64
	kind, err := readFile(path, newIOConfig(nil), func(_ Kind, rec arrow.Record) error {
		rows += rec.NumRows()
		cut += TruncatedIn(rec)
		return nil
	})
	if err != nil {
		return err
	}
	if kind != f.Kind {
		return fmt.Errorf("holds %s rows, the manifest says %s", kind, f.Kind)
	}
	if rows != f.Rows {
		return fmt.Errorf("holds %d rows, the manifest says %d", rows, f.Rows)
	}
	if cut != f.Truncated {
		return fmt.Errorf("holds %d truncated values, the manifest says %d", cut, f.Truncated)
	}
	return nil
}

func hashFile(path string) (int64, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, "", err
	}
	if !st.Mode().IsRegular() {
		return 0, "", errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// readVerified reads a manifest-listed file, hashing it while reading, and
// fails if it is not the file the manifest recorded (for example, changed
// after VerifyDir looked at it).
func readVerified(dir string, f FileInfo, fn func(Kind, arrow.Record) error) error {
	path := filepath.Join(dir, f.Name)
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(file, h), 64<<10)
	kind, err := readStream(br, f.Bytes, newIOConfig(nil), fn)
	if err != nil {
		return err
	}
	if kind != f.Kind {
		return fmt.Errorf("holds %s rows, the manifest says %s", kind, f.Kind)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		return errors.New("the file changed while it was read; discard this output and export again")
	}
	return nil
}

// localFileName accepts slash-separated relative paths that stay inside the
// directory: no "..", no absolute path, no backslash, ending in .arrows.
func localFileName(name string) bool {
	return strings.HasSuffix(name, ".arrows") && !strings.Contains(name, "\\") &&
		filepath.IsLocal(name) && path.Clean(name) == name
}

// TableRange is a range of one schema's table names, From included and
// Before not, compared by bytes; "" leaves an end open. A partition of a
// schema too big for one holds such a range.
type TableRange struct {
	From   string `json:"from,omitempty"`
	Before string `json:"before,omitempty"`
}
