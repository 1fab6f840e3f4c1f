// Package connector is the contract between the extractor and its source
// connectors (postgres, mysql, sqlite sub-packages), and what they share:
// the source description, filters, credentials, preflight checks and the
// statement counter that proves a connector's query count is fixed.
package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/secret"
)

// Source is what one extraction reads.
type Source struct {
	Kind string // "postgres", "mysql" (MySQL and MariaDB) or "sqlite"
	// Connection is the catalog connection's qualified name, the prefix of
	// every asset's qualified name (e.g. "default/postgres/1700000000").
	Connection string
	// DSN locates the server or file. It must not carry a password unless
	// AllowInlinePassword is set (agentctl's env:NAME form); passwords come
	// from Credentials.
	DSN                 string
	AllowInlinePassword bool
	// Databases limits a server connector to these databases. Empty: the
	// database the DSN names, or, when it names none, every database the
	// user can see except templates/system ones; AllDatabases ("*") alone:
	// every database the user can see, whatever the DSN names. See
	// DatabaseScope.
	Databases []string
	// Schemas, when set, restricts the extraction to exactly these schema
	// names (one partition's schema group) inside the selected databases,
	// on top of Filters. With a list, a database's own row is written only
	// by the partition holding its first selected schema (see SchemaSet),
	// so the partitions of one database write it exactly once.
	Schemas []string
	// Tables, when set, restricts the extraction to a range of the tables
	// of its one schema (Schemas holds exactly one): one partition of a
	// schema too big for one. The schema's own row, its routines and the
	// database row are written only by the range that starts at "".
	Tables        TableRange
	Filters       Filters
	ExcludeFields []string
	RequireTLS    bool
	// ConnectTimeout bounds connecting and authenticating (default 10s).
	ConnectTimeout time.Duration
}

// Credentials supplies the source password at connect time. Implementations
// read it from the Dapr secret store (the extractor service) or an
// environment variable (agentctl); it is never stored.
type Credentials interface {
	Password(ctx context.Context) (secret.Value, error)
}

// NoCredentials is for sources without a password (SQLite, trust auth, or a
// DSN from env:NAME that already carries one).
type NoCredentials struct{}

func (NoCredentials) Password(context.Context) (secret.Value, error) { return secret.Value{}, nil }

// Status of a preflight check.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one named preflight result. Detail says what was found;
// Remediation says what to do when it is not a pass. Neither may contain a
// secret.
type Check struct {
	Name        string `json:"name"`
	Status      Status `json:"status"`
	Detail      string `json:"detail"`
	Remediation string `json:"remediation,omitempty"`
	// Filter, Pattern and Matches are set on the check of one filter
	// pattern (FilterCheck): its filter (include_schemas, exclude_tables,
	// ...), the pattern as written, and how many names it matched; Matches
	// is nil when they could not be counted.
	Filter  string `json:"filter,omitempty"`
	Pattern string `json:"pattern,omitempty"`
	Matches *int   `json:"matches,omitempty"`
}

// Stats describe one extraction.
type Stats struct {
	// Queries is the number of SQL statements sent to the source, which
	// must not grow with the number of tables (tests check it).
	Queries int
	Elapsed time.Duration
}

// Connector reads one source's catalog.
type Connector interface {
	// Preflight checks authentication, server version, catalog privileges
	// and each filter's matches; it never fails as a call, every problem is
	// a Check.
	Preflight(ctx context.Context) []Check
	// Extract streams every selected asset into w with a fixed number of
	// bulk queries.
	Extract(ctx context.Context, w *model.Writer) (Stats, error)
	Close() error
}

// Opener connects to a source; each connector package provides one.
type Opener func(ctx context.Context, src Source, creds Credentials) (Connector, error)

// Registry maps source kinds to openers; built once in main and injected.
type Registry map[string]Opener

// Open validates src and opens a connector for it.
func (r Registry) Open(ctx context.Context, src Source, creds Credentials) (Connector, error) {
	if err := src.Validate(); err != nil {
		return nil, err
	}
	open, ok := r[src.Kind]
	if !ok && len(r) == 0 {
		return nil, fmt.Errorf("no source connectors are registered in this program (asked for %q)", src.Kind)
	}
	if !ok {
		return nil, fmt.Errorf("unknown source kind %q: use one of %s", src.Kind, strings.Join(r.Kinds(), ", "))
	}
	return open(ctx, src, OrNone(creds))
}

// Kinds lists the registered kinds.
func (r Registry) Kinds() []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate reports every problem of the source description at once.
func (s Source) Validate() error {
	_, err := s.Compile()
	return err
}

// Compile validates the source (every problem at once) and returns its
// compiled filters; each connector's Open starts with it.
func (s Source) Compile() (*Compiled, error) {
	var problems []string
	if s.Connection == "" {
		problems = append(problems, "connection qualified name is empty (e.g. default/postgres/1700000000)")
	}
	if strings.TrimSpace(s.DSN) == "" {
		problems = append(problems, "dsn is empty")
	}
	filters, err := s.Filters.Compile()
	if err != nil {
		problems = append(problems, err.Error())
	}
	if slices.Contains(s.Databases, AllDatabases) && len(s.Databases) > 1 {
		problems = append(problems, fmt.Sprintf("databases lists %q with other names; use [%q] alone for every database, or list names only", AllDatabases, AllDatabases))
	}
	for i, name := range s.Schemas {
		if name == "" {
			problems = append(problems, fmt.Sprintf("schemas[%d] is empty; list schema names, or leave schemas out for every schema", i))
		}
	}
	if s.Tables.Set() && len(s.Schemas) != 1 {
		problems = append(problems, fmt.Sprintf("a table range is set with %d schemas; a range cuts exactly one schema", len(s.Schemas)))
	}
	if err := s.Tables.Check(); err != nil {
		problems = append(problems, err.Error())
	}
	if err := model.ValidateExcludeFields(s.ExcludeFields); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, errors.New("invalid source: " + strings.Join(problems, "; "))
	}
	return filters, nil
}

// AllDatabases, as the only entry of Source.Databases, selects every
// database the user can see even when the DSN names one.
const AllDatabases = "*"

// DatabaseScope is the list of databases a server connector reads, given
// the database its DSN names ("" for none): the source's own list, or the
// DSN's database when the list is empty (a DSN that names a database means
// that database, not the whole server), or nil for every database
// (["*"], or neither names one). fromDSN says the DSN chose it, which
// Preflight reports.
func (s Source) DatabaseScope(dsnDatabase string) (databases []string, fromDSN bool) {
	switch {
	case len(s.Databases) == 1 && s.Databases[0] == AllDatabases:
		return nil, false
	case len(s.Databases) > 0:
		return s.Databases, false
	case dsnDatabase != "":
		return []string{dsnDatabase}, true
	default:
		return nil, false
	}
}

// DatabaseScopeDetail is the preflight text for a scope the DSN chose.
func DatabaseScopeDetail(noun, name string) string {
	return fmt.Sprintf("only %s %s is extracted: the DSN names it and the source lists no databases; "+
		"to extract every %s the user can see, set databases: [%q] (agentctl: --database '%s')", noun, name, noun, AllDatabases, AllDatabases)
}

// OrNone returns creds, or NoCredentials when creds is nil.
func OrNone(creds Credentials) Credentials {
	if creds == nil {
		return NoCredentials{}
	}
	return creds
}

// ErrInlinePassword is returned when a DSN carries a password where only a
// secret reference is allowed.
var ErrInlinePassword = errors.New("the DSN contains a password; remove it and reference the password in the secret store " +
	"(job spec secret keys), or with agentctl put the whole DSN in an environment variable and pass --dsn env:NAME")
