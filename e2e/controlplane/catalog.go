package controlplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/secure-agent/secure-agent/libs/model"
)

// Asset is one asset of the reference catalog: every attribute of its
// row as text (nulls left out), without the job and time that read it.
type Asset struct {
	Kind          string            `json:"kind"`
	QualifiedName string            `json:"qualified_name"`
	Attributes    map[string]string `json:"attributes"`
	// JobID is the run that last shipped it.
	JobID string `json:"job_id"`
}

// connCatalog is one connection's catalog: the current assets and the
// runs applied, in order.
type connCatalog struct {
	assets  map[string]*Asset // by kind and qualified name
	applied map[string]bool   // job ids
	last    string            // the last run applied
	runs    []string
}

// catalog keeps a catalog of current assets per connection and applies
// each run's change set (its manifest's files and tombstones) in order,
// idempotently: a repeated manifest or file changes nothing.
type catalog struct {
	mu    sync.Mutex
	conns map[string]*connCatalog
}

func newCatalog() *catalog { return &catalog{conns: map[string]*connCatalog{}} }

// runManifest is the part of libs/model.Manifest the catalog reads.
type runManifest struct {
	Mode   string `json:"mode"`
	Base   string `json:"base"`
	Source struct {
		Connection string `json:"connection"`
	} `json:"source"`
	Files []struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Kind   string `json:"kind"`
	} `json:"files"`
}

// applyError is a run the catalog refuses, with its HTTP answer.
type applyError struct {
	status  int
	code    string
	message string
}

func (e *applyError) Error() string { return e.message }

// apply applies job's run to its connection's catalog. files are the
// job's ingested files by sha256. A manifest without a mode (not a change
// set) changes nothing. Nothing is applied unless all of it can be.
func (c *catalog) apply(jobID string, raw []byte, files map[string]*StoredFile) error {
	var m runManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return &applyError{http.StatusBadRequest, "invalid_request", "the manifest is not readable: " + err.Error()}
	}
	if m.Mode == "" {
		return nil
	}
	if m.Mode != model.ModeFull && m.Mode != model.ModeIncremental {
		return &applyError{http.StatusBadRequest, "invalid_request", fmt.Sprintf("mode %q is not full or incremental", m.Mode)}
	}
	conn := m.Source.Connection
	if conn == "" {
		return &applyError{http.StatusBadRequest, "invalid_request", "the manifest names no source connection"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cat := c.conns[conn]
	if cat == nil {
		cat = &connCatalog{assets: map[string]*Asset{}, applied: map[string]bool{}}
		c.conns[conn] = cat
	}
	if cat.applied[jobID] {
		return nil
	}
	// A full run ships every asset: it applies whatever the catalog last
	// applied. An incremental run only applies on top of its base.
	switch {
	case m.Mode == model.ModeFull:
	case m.Base == "":
		return &applyError{http.StatusBadRequest, "invalid_request", "an incremental run must name its base"}
	case m.Base != cat.last:
		last := cat.last
		if last == "" {
			last = "none"
		}
		return &applyError{http.StatusConflict, "out_of_order", fmt.Sprintf("the catalog of connection %s is at run %s; this run "+
			"changes run %s: apply the runs in between first, or run the job with mode: full", conn, last, m.Base)}
	}
	var upserts []*Asset
	var deletes []string
	for _, f := range m.Files {
		sf := files[f.SHA256]
		if sf == nil {
			return &applyError{http.StatusConflict, "files_missing", "upload " + f.Name + " before the manifest"}
		}
		_, err := model.ReadStream(bytes.NewReader(sf.Data), int64(len(sf.Data)), func(k model.Kind, rec arrow.Record) error {
			for i := range int(rec.NumRows()) {
				a := RowAsset(k, rec, i)
				if k == model.KindTombstone {
					deletes = append(deletes, a.Attributes["asset_kind"]+"\x00"+a.QualifiedName)
					continue
				}
				a.JobID = jobID
				upserts = append(upserts, a)
			}
			return nil
		})
		if err != nil {
			return &applyError{http.StatusBadRequest, "invalid_file", fmt.Sprintf("%s: %v", f.Name, err)}
		}
	}
	for _, k := range deletes {
		delete(cat.assets, k)
	}
	for _, a := range upserts {
		cat.assets[a.Kind+"\x00"+a.QualifiedName] = a
	}
	cat.applied[jobID] = true
	cat.last = jobID
	cat.runs = append(cat.runs, jobID)
	return nil
}

// RowAsset reads row i of a batch of kind k as an asset (tests compare a
// whole extraction with the catalog through it).
func RowAsset(k model.Kind, rec arrow.Record, i int) *Asset {
	a := &Asset{Kind: string(k), Attributes: map[string]string{}}
	for j, f := range rec.Schema().Fields() {
		col := rec.Column(j)
		switch {
		case f.Name == "qualified_name":
			a.QualifiedName = col.ValueStr(i)
		case f.Name == "job_id" || f.Name == "extracted_at" || col.IsNull(i):
		default:
			a.Attributes[f.Name] = col.ValueStr(i)
		}
	}
	return a
}

// Catalog returns a connection's current assets, sorted by qualified
// name and kind, and the runs applied.
func (s *Server) Catalog(connection string) (assets []Asset, runs []string) {
	c := s.catalog
	c.mu.Lock()
	defer c.mu.Unlock()
	cat := c.conns[connection]
	if cat == nil {
		return []Asset{}, nil
	}
	for _, a := range cat.assets {
		cp := *a
		assets = append(assets, cp)
	}
	slices.SortFunc(assets, func(a, b Asset) int {
		if n := strings.Compare(a.QualifiedName, b.QualifiedName); n != 0 {
			return n
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return assets, slices.Clone(cat.runs)
}

// CatalogAnswer is GET /catalog?connection=X on the admin listener.
type CatalogAnswer struct {
	Connection string   `json:"connection"`
	Runs       []string `json:"runs"`
	Assets     []Asset  `json:"assets"`
}

func (s *Server) adminCatalog(w http.ResponseWriter, r *http.Request) {
	conn := r.URL.Query().Get("connection")
	if conn == "" {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "name the connection: /catalog?connection=...")
		return
	}
	assets, runs := s.Catalog(conn)
	writeJSON(w, http.StatusOK, CatalogAnswer{Connection: conn, Runs: runs, Assets: assets})
}
