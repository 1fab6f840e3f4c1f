package changeset

import (
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/secure-agent/secure-agent/libs/assetfilter"
	"github.com/secure-agent/secure-agent/libs/model"
)

// Op is what a run did to an asset.
type Op string

const (
	Created   Op = "created"
	Updated   Op = "updated"
	Unchanged Op = "unchanged"
	Deleted   Op = "deleted"
)

// Classify says whether e is new, changed or unchanged against the
// snapshot, and for a changed asset which attributes changed. A nil
// snapshot (no earlier run) makes every asset created.
func (s *Snapshot) Classify(e Entry) (Op, []string) {
	old, ok := s.Lookup(e.Kind, e.QualifiedName)
	return classify(old, ok, e)
}

func classify(old Entry, ok bool, e Entry) (Op, []string) {
	switch {
	case !ok:
		return Created, nil
	case old.Digest == e.Digest:
		return Unchanged, nil
	}
	return Updated, ChangedAttributes(old, e)
}

// Reason says why an asset is deleted.
type Reason = string

const (
	// ReasonDropped: its database and schema were read and it is not there.
	ReasonDropped = model.ReasonDropped
	// ReasonExcluded: the job's filters or databases now leave it out.
	ReasonExcluded = model.ReasonExcluded
	// ReasonNotVisible: its database was read, but the agent's user does
	// not see every table in it (MySQL shows only tables the user holds a
	// privilege on), so it may still exist.
	ReasonNotVisible = model.ReasonNotVisible
)

// Tombstone is one deleted asset.
type Tombstone struct {
	Kind          model.Kind
	QualifiedName string
	Reason        Reason
}

// Listing is what the source's catalog listing showed when the run
// started (the extractor's preflight): what a missing asset is judged by.
type Listing struct {
	// Databases holds every database the source listed, selected or not.
	Databases map[string]DatabaseState `json:"databases"`
	// ListsAllDatabases: the listing shows every database on the server
	// (PostgreSQL always), so a database missing from it was dropped.
	ListsAllDatabases bool `json:"lists_all_databases"`
	// SelectedDatabases are the databases the job reads (source.databases,
	// or the DSN's database); nil: every database.
	SelectedDatabases []string `json:"selected_databases,omitempty"`
	// SelectedSchemas are the schemas the job reads where the source names
	// schemas rather than databases (MySQL); nil: every schema.
	SelectedSchemas []string `json:"selected_schemas,omitempty"`
}

// DatabaseState is what the run's listing said of one database.
type DatabaseState struct {
	// Readable: the user may read it (false: listed, but the user may not
	// connect: PostgreSQL without CONNECT).
	Readable bool `json:"readable"`
	// TablesComplete: the listing shows every table in it, whatever the
	// user's privileges (PostgreSQL's catalog).
	TablesComplete bool `json:"tables_complete,omitempty"`
	// Schemas, when not nil, is the listing of the database's schemas,
	// for a source that does not show every schema to every user (MySQL,
	// whose schemas are the server's databases); nil: every schema of a
	// readable database is listed.
	Schemas map[string]SchemaState `json:"schemas,omitempty"`
	// ListsAllSchemas: Schemas shows every schema (MySQL: SHOW DATABASES
	// or a global privilege), so a schema missing from it was dropped.
	ListsAllSchemas bool `json:"lists_all_schemas,omitempty"`
}

// SchemaState is what the run's listing said of one schema.
type SchemaState struct {
	Readable bool `json:"readable"`
	// TablesComplete: the user sees every table of the schema (MySQL: a
	// privilege on the whole schema or a global one).
	TablesComplete bool `json:"tables_complete,omitempty"`
}

// Scope is what a run read: the deletions are judged against it.
type Scope struct {
	Connection string
	// Filters are the job's compiled filters; nil: none.
	Filters *assetfilter.Compiled
	Listing
}

// DefaultMaxDeletionShare is the share of the snapshot above which a run's
// deletions are withheld.
const DefaultMaxDeletionShare = 0.2

// Fail-safe names.
const (
	FailSafePartitionFailed = "partition_failed"
	FailSafeNoAssets        = "no_assets"
	FailSafeUnreadable      = "unreadable"
	FailSafeThreshold       = "threshold"
)

// FailSafe is one fail-safe that withheld deletions.
type FailSafe = model.FailSafe

// Options tune Finish.
type Options struct {
	// MaxDeletionShare is the share of the snapshot's assets a run may
	// delete; above it every deletion is withheld. 0 means
	// DefaultMaxDeletionShare; 1 allows any share.
	MaxDeletionShare float64
	// Incomplete, when set, says why the run is not complete (a partition
	// failed or was not published): every deletion is withheld.
	Incomplete string
}

// CheckMaxDeletionShare validates a deletion share (0 is the default).
func CheckMaxDeletionShare(v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("max_deletion_share %v is not a share: use a number above 0 and at most 1 (0.2 withholds a run's deletions when they exceed 20%% of the catalog; 1 allows any)", v)
	}
	return nil
}

// Counts are a kind's changes.
type Counts = model.ChangeCounts

// Result is a run's change set against its base.
type Result struct {
	Tombstones []Tombstone // sorted like snapshot entries
	FailSafes  []FailSafe
	Counts     map[model.Kind]Counts
	// Next is the state to keep if the run succeeds: every asset seen and
	// every withheld one.
	Next *Snapshot
}

// Finish compares every entry a run saw with its base snapshot (nil: the
// first run), decides each missing asset's reason, applies the fail-safes
// and returns the change set and the next snapshot. seen is sorted in
// place; an asset seen twice is an error. It holds everything in memory:
// Compare and Diff.Emit do the same over streams.
func Finish(base *Snapshot, seen []Entry, scope Scope, opts Options, meta Meta) (Result, error) {
	if base != nil && base.Meta.Connection != "" && base.Meta.Connection != scope.Connection {
		return Result{}, fmt.Errorf("changeset: the base snapshot is of connection %q, the run of %q", base.Meta.Connection, scope.Connection)
	}
	next, err := NewSnapshot(meta, seen)
	if err != nil {
		return Result{}, err
	}
	var baseRun Opener
	if base != nil {
		baseRun = func() (Iterator, error) { return Slice(base.entries), nil }
	}
	d, err := CompareRuns(baseRun, func() (Iterator, error) { return Slice(next.entries), nil }, scope, opts)
	if err != nil {
		return Result{}, err
	}
	res := Result{Counts: d.Counts, FailSafes: d.FailSafes}
	keep := make([]Entry, 0, d.NextEntries)
	err = d.Emit(Emit{
		Next:      func(e Entry) error { keep = append(keep, e); return nil },
		Tombstone: func(t Tombstone) error { res.Tombstones = append(res.Tombstones, t); return nil },
	})
	if err != nil {
		return Result{}, err
	}
	res.Next = &Snapshot{Meta: next.Meta, entries: keep}
	return res, nil
}

// Opener opens a sorted stream of entries: each pass over a run opens it
// again.
type Opener func() (Iterator, error)

// Diff is a run compared with its base over two sorted streams, the base
// (nil: the first run) and what the run saw: the counts and the fail-safes
// are known after one pass over both; Emit makes a second that hands out
// the next state and the tombstones. Neither pass holds more than the
// streams' current entries and a hash of each table seen.
type Diff struct {
	base, seen Opener
	scope      Scope
	seed       maphash.Seed
	tables     map[uint64]struct{} // the tables seen, by hash of name
	gone       bool                // the deletions are withheld
	baseN      int
	seenN      int

	Counts    map[model.Kind]Counts
	FailSafes []FailSafe
	// NextEntries is the size of the next state.
	NextEntries int
}

// Emit is what Diff.Emit hands out, in order; a nil func is not called.
type Emit struct {
	// Next gets every entry of the next state: every asset seen and
	// every withheld one.
	Next func(Entry) error
	// Tombstone gets every deleted asset.
	Tombstone func(Tombstone) error
	// Change gets every asset created or updated, with the attributes
	// that changed.
	Change func(op Op, e Entry, attrs []string) error
}

// CompareRuns makes the first pass over base and seen.
func CompareRuns(base, seen Opener, scope Scope, opts Options) (*Diff, error) {
	if err := CheckMaxDeletionShare(opts.MaxDeletionShare); err != nil {
		return nil, err
	}
	share := opts.MaxDeletionShare
	if share == 0 {
		share = DefaultMaxDeletionShare
	}
	d := &Diff{base: base, seen: seen, scope: scope, seed: maphash.MakeSeed(), tables: map[uint64]struct{}{},
		Counts: map[model.Kind]Counts{}}
	goneN, unreadableN := map[model.Kind]int64{}, map[model.Kind]int64{}
	var gone, unreadable int64
	unreadableDBs := map[string]bool{}
	err := d.join(func(old Entry, hasOld bool, cur Entry, hasCur bool) error {
		if hasCur {
			c := d.Counts[cur.Kind]
			switch op, _ := classify(old, hasOld, cur); op {
			case Created:
				c.Created++
			case Updated:
				c.Updated++
			default:
				c.Unchanged++
			}
			d.Counts[cur.Kind] = c
			return nil
		}
		_, db, ok, err := d.reason(old)
		switch {
		case err != nil:
			return err
		case !ok:
			unreadable++
			unreadableN[old.Kind]++
			unreadableDBs[db] = true
		default:
			gone++
			goneN[old.Kind]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	withhold := func(name, msg string, n map[model.Kind]int64) {
		d.FailSafes = append(d.FailSafes, FailSafe{Name: name, Message: msg, Withheld: maps.Clone(n)})
	}
	if unreadable > 0 {
		dbs := slices.Sorted(maps.Keys(unreadableDBs))
		withhold(FailSafeUnreadable, fmt.Sprintf("%d deletion(s) withheld: %s held assets at the last run and could not be read now "+
			"(listed without access, or no longer listed while the agent's user cannot list them all); "+
			"grant the agent's user access (MySQL: SHOW DATABASES or a global privilege, so a dropped schema can be told from a hidden one) "+
			"and the next run deletes what is really gone", unreadable, strings.Join(dbs, ", ")), unreadableN)
	}
	if gone > 0 {
		switch {
		case opts.Incomplete != "":
			withhold(FailSafePartitionFailed, fmt.Sprintf("%d deletion(s) withheld: the run is not complete (%s); only a complete run deletes",
				gone, opts.Incomplete), goneN)
			d.gone = true
		case d.seenN == 0:
			withhold(FailSafeNoAssets, fmt.Sprintf("%d deletion(s) withheld: the run saw no asset at all, which is more likely a source or "+
				"privilege problem than an empty catalog; if the catalog really is empty, run the job with mode: full after checking the source",
				gone), goneN)
			d.gone = true
		case float64(gone) > share*float64(d.baseN):
			pct := 100 * float64(gone) / float64(d.baseN)
			withhold(FailSafeThreshold, fmt.Sprintf("%d deletion(s) withheld: they are %.1f%% of the %d assets of the last run, above "+
				"max_deletion_share %g; if they are expected (a dropped schema, a new filter), run the job again with max_deletion_share: %s",
				gone, pct, d.baseN, share, suggestShare(int(gone), d.baseN)), goneN)
			d.gone = true
		}
	}
	if !d.gone {
		for k, n := range goneN {
			c := d.Counts[k]
			c.Deleted += n
			d.Counts[k] = c
		}
	}
	for _, fs := range d.FailSafes {
		for k, n := range fs.Withheld {
			c := d.Counts[k]
			c.Withheld += n
			d.Counts[k] = c
		}
	}
	d.NextEntries = d.seenN + int(unreadable)
	if d.gone {
		d.NextEntries += int(gone)
	}
	return d, nil
}

// Sizes are the assets of the base and of the run the first pass read.
func (d *Diff) Sizes() (base, seen int) { return d.baseN, d.seenN }

// Emit makes the second pass. The streams must hold what they held in the
// first: a difference is an error.
func (d *Diff) Emit(out Emit) error {
	baseN, seenN, next := d.baseN, d.seenN, 0
	err := d.join(func(old Entry, hasOld bool, cur Entry, hasCur bool) error {
		if hasCur {
			if out.Change != nil {
				if op, attrs := classify(old, hasOld, cur); op != Unchanged {
					if err := out.Change(op, cur, attrs); err != nil {
						return err
					}
				}
			}
			next++
			if out.Next != nil {
				return out.Next(cur)
			}
			return nil
		}
		reason, _, ok, err := d.reason(old)
		if err != nil {
			return err
		}
		if ok && !d.gone {
			if out.Tombstone != nil {
				return out.Tombstone(Tombstone{Kind: old.Kind, QualifiedName: old.QualifiedName, Reason: reason})
			}
			return nil
		}
		// Withheld: it stays in the state, so a later clean run can still
		// delete it.
		next++
		if out.Next != nil {
			return out.Next(old)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if d.baseN != baseN || d.seenN != seenN || next != d.NextEntries {
		return fmt.Errorf("changeset: the run's entries changed between two passes (base %d then %d, seen %d then %d)", baseN, d.baseN, seenN, d.seenN)
	}
	return nil
}

// join walks base and seen in step, calling visit for every asset with
// its base entry, its entry in the run, or both; it counts both streams.
func (d *Diff) join(visit func(old Entry, hasOld bool, cur Entry, hasCur bool) error) error {
	open := func(o Opener) (Iterator, error) {
		if o == nil {
			return Slice(nil), nil
		}
		return o()
	}
	base, err := open(d.base)
	if err != nil {
		return err
	}
	defer closeIterator(base)
	seen, err := open(d.seen)
	if err != nil {
		return err
	}
	defer closeIterator(seen)
	d.baseN, d.seenN = 0, 0
	old, hasOld, err := base.Next()
	if err != nil {
		return err
	}
	cur, hasCur, err := seen.Next()
	if err != nil {
		return err
	}
	for hasOld || hasCur {
		c := 0
		switch {
		case !hasOld:
			c = 1
		case !hasCur:
			c = -1
		default:
			c = Compare(old, cur)
		}
		switch {
		case c < 0: // only in the base
			d.baseN++
			err = visit(old, true, Entry{}, false)
		case c > 0: // only in the run
			d.seenN++
			d.seeTable(cur)
			err = visit(Entry{}, false, cur, true)
		default:
			d.baseN++
			d.seenN++
			d.seeTable(cur)
			err = visit(old, true, cur, true)
		}
		if err != nil {
			return err
		}
		if c <= 0 {
			if old, hasOld, err = base.Next(); err != nil {
				return err
			}
		}
		if c >= 0 {
			if cur, hasCur, err = seen.Next(); err != nil {
				return err
			}
		}
	}
	return nil
}

func closeIterator(it Iterator) {
	if c, ok := it.(interface{ Close() }); ok {
		c.Close()
	}
}

// seeTable remembers a table seen: a table sorts before everything in it,
// so it is known before anything of it is missed.
func (d *Diff) seeTable(e Entry) {
	if e.Kind == model.KindTable {
		d.tables[maphash.String(d.seed, e.QualifiedName)] = struct{}{}
	}
}

func (d *Diff) tableSeen(qn string) bool {
	_, ok := d.tables[maphash.String(d.seed, qn)]
	return ok
}

func (d *Diff) reason(e Entry) (Reason, string, bool, error) {
	return d.scope.reason(e, d.tableSeen)
}

// suggestShare is a share just above n of total, rounded up to a percent.
func suggestShare(n, total int) string {
	pct := math.Ceil(100*float64(n)/float64(total)) + 1
	if pct >= 100 {
		return "1"
	}
	return fmt.Sprintf("%.2f", pct/100)
}

// reason says why e is gone, or (ok false) that its database could not be
// read, so whether it is gone is unknown.
func (sc Scope) reason(e Entry, tableSeen func(qn string) bool) (r Reason, db string, ok bool, err error) {
	n, err := SplitName(sc.Connection, e.Kind, e.QualifiedName)
	if err != nil {
		return "", "", false, err
	}
	if (sc.SelectedDatabases != nil && !slices.Contains(sc.SelectedDatabases, n.Database)) ||
		(sc.SelectedSchemas != nil && n.Schema != "" && !slices.Contains(sc.SelectedSchemas, n.Schema)) {
		return ReasonExcluded, n.Database, true, nil
	}
	if sc.Filters != nil {
		switch {
		case n.Schema == "":
		case n.Table == "":
			if !sc.Filters.SchemaIncluded(n.Database, n.Schema) {
				return ReasonExcluded, n.Database, true, nil
			}
		default:
			if !sc.Filters.TableIncluded(n.Database, n.Schema, n.Table) {
				return ReasonExcluded, n.Database, true, nil
			}
		}
	}
	st, listed := sc.Databases[n.Database]
	switch {
	case !listed && sc.ListsAllDatabases:
		return ReasonDropped, n.Database, true, nil
	case !listed || !st.Readable:
		return "", n.Database, false, nil
	}
	where, complete := n.Database, st.TablesComplete
	if st.Schemas != nil && n.Schema != "" {
		where = n.Database + "." + n.Schema
		ss, listed := st.Schemas[n.Schema]
		switch {
		case !listed && st.ListsAllSchemas:
			return ReasonDropped, where, true, nil
		case !listed || !ss.Readable:
			return "", where, false, nil
		}
		complete = ss.TablesComplete
	}
	if complete || n.Table == "" {
		return ReasonDropped, where, true, nil
	}
	// Its table was seen: the table is visible, so this part of it (a
	// column, an index) was dropped.
	if tableSeen(model.QualifiedName(sc.Connection, n.Database, n.Schema, n.Table)) {
		return ReasonDropped, where, true, nil
	}
	return ReasonNotVisible, where, true, nil
}

// Names are the names an asset's qualified name holds. Table is empty for
// databases, schemas and routines (which belong to a schema).
type Names struct {
	Database, Schema, Table string
}

// SplitName reads the database, schema and table out of the qualified
// name of an asset of kind k in connection (model.QualifiedName).
func SplitName(connection string, k model.Kind, qn string) (Names, error) {
	rest, ok := strings.CutPrefix(qn, connection+"/")
	if !ok {
		return Names{}, fmt.Errorf("changeset: %s %q is not in connection %q", k, qn, connection)
	}
	segs := strings.Split(rest, "/")
	want := map[model.Kind]int{model.KindDatabase: 1, model.KindSchema: 2, model.KindRoutine: 3}[k]
	if want == 0 {
		want = 3 // a table, or something in one
	}
	if len(segs) < want || (k == model.KindDatabase && len(segs) != 1) || (k == model.KindSchema && len(segs) != 2) {
		return Names{}, fmt.Errorf("changeset: %s %q does not name its database, schema and table", k, qn)
	}
	n := Names{Database: model.UnescapeSegment(segs[0])}
	if want >= 2 {
		n.Schema = model.UnescapeSegment(segs[1])
	}
	if want == 3 && k != model.KindRoutine {
		n.Table = model.UnescapeSegment(segs[2])
	}
	return n, nil
}

// ParentOf is the qualified name of the parent of an asset of kind k in
// connection: what a tombstone names as its parent.
func ParentOf(connection string, k model.Kind, qn string) string {
	switch k {
	case model.KindDatabase:
		return connection
	case model.KindTableStats:
		return qn // statistics belong to the table they share a name with
	case model.KindLineage:
		if view, _, ok := strings.Cut(qn, "/@lineage/"); ok {
			return view
		}
	}
	if i := strings.LastIndexByte(qn, '/'); i > len(connection) {
		return qn[:i]
	}
	return connection
}
