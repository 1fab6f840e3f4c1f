// Command vulndb turns the OSV files of the golang.org/x/vulndb module
// (data/osv/GO-*.json) into the database layout govulncheck reads with
// -db file:///DIR: ID/<id>.json, index/db.json and index/modules.json.
//
// The modules index leaves "fixed" out on purpose: govulncheck then reads
// every entry of a module and decides from the OSV ranges themselves, so
// this program never has to reproduce govulncheck's own range logic.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	src := flag.String("src", "", "the golang.org/x/vulndb module directory")
	out := flag.String("out", "", "database directory to write (replaced)")
	min := flag.Int("min-entries", 1000, "fail if fewer OSV entries are found (a truncated download)")
	version := flag.String("version", "", "the vulndb module's pseudo-version: its commit time is the database's time (the OSV files in the repository carry no modification times)")
	flag.Parse()
	n, modified, err := build(*src, *out, *version, *min)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
	fmt.Printf("vulndb: %d entries, last modified %s, in %s\n", n, modified.Format(time.DateOnly), *out)
}

type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Module struct {
			Path string `json:"name"` // module path; "stdlib", "toolchain"
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

// commitTime reads the commit time of a pseudo-version
// (v0.0.0-20261105234957-e22db6528018).
func commitTime(version string) (time.Time, error) {
	parts := strings.Split(version, "-")
	if len(parts) < 3 {
		return time.Time{}, fmt.Errorf("-version %q is not a pseudo-version", version)
	}
	t, err := time.Parse("20060102150405", parts[len(parts)-2])
	if err != nil {
		return time.Time{}, fmt.Errorf("-version %q: %w", version, err)
	}
	return t.UTC(), nil
}

func build(src, out, version string, min int) (int, time.Time, error) {
	if src == "" || out == "" {
		return 0, time.Time{}, errors.New("-src and -out are required")
	}
	dbTime, err := commitTime(version)
	if err != nil {
		return 0, time.Time{}, err
	}
	files, err := filepath.Glob(filepath.Join(src, "data", "osv", "GO-*.json"))
	if err != nil {
		return 0, time.Time{}, err
	}
	if len(files) < min {
		return 0, time.Time{}, fmt.Errorf("%s holds %d OSV files in data/osv; at least %d expected (is this the golang.org/x/vulndb module?)", src, len(files), min)
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, time.Time{}, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return 0, time.Time{}, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return 0, time.Time{}, err
	}
	modules := map[string]*moduleMeta{}
	var last time.Time
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, time.Time{}, err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return 0, time.Time{}, fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || e.ID+".json" != filepath.Base(f) || strings.ContainsAny(e.ID, "/\\") {
			return 0, time.Time{}, fmt.Errorf("%s: id %q does not match the file name", f, e.ID)
		}
		if e.Modified.IsZero() || e.Modified.Year() < 2000 {
			e.Modified = dbTime
		}
		if e.Modified.After(last) {
			last = e.Modified
		}
		if len(e.Affected) == 0 {
			return 0, time.Time{}, fmt.Errorf("%s: no affected module", f)
		}
		for _, a := range e.Affected {
			if a.Module.Path == "" {
				return 0, time.Time{}, fmt.Errorf("%s: an affected entry names no module", f)
			}
			m := modules[a.Module.Path]
			if m == nil {
				m = &moduleMeta{Path: a.Module.Path}
				modules[a.Module.Path] = m
			}
			if n := len(m.Vulns); n == 0 || m.Vulns[n-1].ID != e.ID {
				m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), b, 0o644); err != nil {
			return 0, time.Time{}, err
		}
	}
	list := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	if err := writeJSON(filepath.Join(tmp, "index", "modules.json"), list); err != nil {
		return 0, time.Time{}, err
	}
	if err := writeJSON(filepath.Join(tmp, "index", "db.json"), map[string]time.Time{"modified": last}); err != nil {
		return 0, time.Time{}, err
	}
	if err := os.RemoveAll(out); err != nil {
		return 0, time.Time{}, err
	}
	return len(files), last, os.Rename(tmp, out)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
