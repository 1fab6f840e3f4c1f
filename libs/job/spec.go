package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secure-agent/secure-agent/libs/assetfilter"
	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/dsncheck"
	"github.com/secure-agent/secure-agent/libs/model"
)

// SpecVersion is the job spec format this agent reads.
const SpecVersion = 1

// Spec is what a user submits: what to read, how to reach it, which secret
// holds its password (a reference, never a value), what to leave out and
// where the output goes.
type Spec struct {
	Version int `json:"version" yaml:"version"`
	// Name is an optional label shown in listings.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Connection is the catalog connection's qualified name, the prefix of
	// every asset's qualified name (e.g. default/postgres/1700000000).
	Connection    string              `json:"connection" yaml:"connection"`
	Source        Source              `json:"source" yaml:"source"`
	Filters       assetfilter.Filters `json:"filters,omitzero" yaml:"filters,omitempty"`
	ExcludeFields []string            `json:"exclude_fields,omitempty" yaml:"exclude_fields,omitempty"`
	Partitioning  Partitioning        `json:"partitioning,omitzero" yaml:"partitioning,omitempty"`
	Destinations  []Destination       `json:"destinations,omitempty" yaml:"destinations,omitempty"`
	// MaxTextBytes caps every free-text attribute (comments, definitions,
	// expressions: model.TextFields); a longer value is cut and marked in
	// its row's truncated_fields. Normalize sets model.DefaultMaxTextBytes.
	MaxTextBytes int `json:"max_text_bytes,omitempty" yaml:"max_text_bytes,omitempty"`
	// AllowEmptyMatch lets a job whose include filter matches nothing, or
	// that selects no table at all, run; by default preflight fails it.
	AllowEmptyMatch bool `json:"allow_empty_match,omitempty" yaml:"allow_empty_match,omitempty"`
	// Mode is how the run ships the catalog (ADR 0015): ModeIncremental
	// ships only what changed since the connection's last successful run
	// (the default once there was one), ModeFull every asset; both ship
	// tombstones for deleted assets. Empty: incremental when possible.
	Mode string `json:"mode,omitempty" yaml:"mode,omitempty"`
	// DryRun extracts and compares, and reports the change set as a plan
	// without uploading anything or replacing the catalog state.
	DryRun bool `json:"dry_run,omitempty" yaml:"dry_run,omitempty"`
	// MaxDeletionShare overrides the publisher's share of the catalog a
	// run may delete before its deletions are withheld (0: the default).
	MaxDeletionShare float64 `json:"max_deletion_share,omitempty" yaml:"max_deletion_share,omitempty"`
	// Schedule makes the spec a schedule (POST /v1/schedules) that runs it
	// again and again; a spec with a schedule is not submitted as one job.
	// A scheduled spec needs a Name matching ScheduleNamePattern.
	Schedule *Schedule `json:"schedule,omitempty" yaml:"schedule,omitempty"`
}

// Modes a spec may ask for.
const (
	ModeFull        = model.ModeFull
	ModeIncremental = model.ModeIncremental
)

// Source says how to reach the database. DSN never carries a password.
type Source struct {
	Kind string `json:"kind" yaml:"kind"` // postgres, mysql (MySQL and MariaDB) or sqlite
	DSN  string `json:"dsn" yaml:"dsn"`
	// Databases limits a server source to these databases. Empty: the
	// database the DSN names, or every database when it names none; ["*"]:
	// every database the user can see (see docs/jobs.md).
	Databases      []string   `json:"databases,omitempty" yaml:"databases,omitempty"`
	Password       *SecretRef `json:"password,omitempty" yaml:"password,omitempty"`
	RequireTLS     bool       `json:"require_tls,omitempty" yaml:"require_tls,omitempty"`
	ConnectTimeout Duration   `json:"connect_timeout,omitzero" yaml:"connect_timeout,omitempty"`
}

// SecretRef names a secret in a Dapr secret store: the store component,
// the secret's key and, for multi-valued secrets, the field (default: the
// key itself, which is how local-file and Kubernetes stores answer).
type SecretRef struct {
	Store string `json:"store" yaml:"store"`
	Key   string `json:"key" yaml:"key"`
	Field string `json:"field,omitempty" yaml:"field,omitempty"`
}

// Partitioning splits a job: one partition per database, and databases
// with more than TablesPerPartition tables into schema groups of about
// that many tables (By "database" never splits a database).
type Partitioning struct {
	By                 string   `json:"by,omitempty" yaml:"by,omitempty"` // "auto" (default) or "database"
	TablesPerPartition int      `json:"tables_per_partition,omitempty" yaml:"tables_per_partition,omitempty"`
	MaxParallel        int      `json:"max_parallel,omitempty" yaml:"max_parallel,omitempty"`
	Timeout            Duration `json:"timeout,omitzero" yaml:"timeout,omitempty"`  // per partition attempt
	Retries            int      `json:"retries,omitempty" yaml:"retries,omitempty"` // attempts after the first
}

// Destination is a Dapr output binding the publisher writes to, or the
// control plane's ingest API (Binding "controlplane", DestinationControlPlane).
type Destination struct {
	Binding string `json:"binding" yaml:"binding"`
	// Prefix is prepended to every object key (default "jobs").
	Prefix string `json:"prefix,omitempty" yaml:"prefix,omitempty"`
	// JobID is the control plane's id of the job, for Binding "controlplane"
	// only (default: this job's id). The orchestrator sets it for leased jobs.
	JobID string `json:"job_id,omitempty" yaml:"job_id,omitempty"`
}

// DestinationControlPlane is the reserved binding name of the control
// plane's ingest API: files go there through the publisher's
// control-plane client instead of a Dapr output binding.
const DestinationControlPlane = "controlplane"

// Defaults applied by Normalize.
const (
	DefaultTablesPerPartition = 5000
	DefaultMaxParallel        = 4
	DefaultPartitionTimeout   = 15 * time.Minute
	DefaultRetries            = 2
	DefaultDestination        = "destination"
	DefaultPrefix             = "jobs"
	DefaultSecretStore        = "secrets"
)

// Duration is a time.Duration written as "90s" or "15m" in specs.
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"90s\" or \"15m\"")
	}
	return d.parse(s)
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: a duration is a string such as \"90s\" or \"15m\"", n.Line)
	}
	return d.parse(s)
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"90s\" or \"15m\"", s)
	}
	*d = Duration(v)
	return nil
}

// ParseSpec decodes a spec written as YAML or JSON (JSON is YAML, but is
// decoded strictly as JSON when it starts with '{'), refuses unknown
// fields, applies defaults and validates it, reporting every problem at
// once.
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	if len(data) > MaxSpecBytes {
		return s, fmt.Errorf("job spec is %d bytes; the limit is %d", len(data), MaxSpecBytes)
	}
	if err := checkEncoding(data); err != nil {
		return s, err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return s, errors.New("job spec is empty: write a YAML or JSON document with at least version, connection and source (see docs/jobs.md)")
	}
	if trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return s, fmt.Errorf("job spec is not valid JSON for a spec: %w", err)
		}
		if dec.More() {
			return s, errors.New("job spec has data after its JSON document")
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			return s, fmt.Errorf("job spec is not valid YAML for a spec: %s", readableYAMLError(err))
		}
	}
	s.Normalize()
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type job\.(\w+)`)

// sections names the spec's parts for unknown-field messages.
var sections = map[string]string{
	"Spec": "the spec (fields: version, name, connection, source, filters, exclude_fields, partitioning, destinations, max_text_bytes, " +
		"allow_empty_match, mode, dry_run, max_deletion_share, schedule)",
	"Schedule":     "schedule (fields: cron, every, time_zone)",
	"Source":       "source (fields: kind, dsn, databases, password, require_tls, connect_timeout)",
	"SecretRef":    "source.password (fields: store, key, field)",
	"Partitioning": "partitioning (fields: by, tables_per_partition, max_parallel, timeout, retries)",
	"Destination":  "a destination (fields: binding, prefix, job_id)",
}

// readableYAMLError rewrites the decoder's Go type names into the spec's
// own words: `unknown field "bogus" in the spec (fields: ...)`.
func readableYAMLError(err error) string {
	return unknownField.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := unknownField.FindStringSubmatch(m)
		where, ok := sections[sub[2]]
		if !ok {
			where = strings.ToLower(sub[2])
		}
		return fmt.Sprintf("unknown field %q in %s", sub[1], where)
	})
}

// Normalize fills in defaults.
func (s *Spec) Normalize() {
	if s.Partitioning.By == "" {
		s.Partitioning.By = "auto"
	}
	if s.Partitioning.TablesPerPartition == 0 {
		s.Partitioning.TablesPerPartition = DefaultTablesPerPartition
	}
	if s.Partitioning.MaxParallel == 0 {
		s.Partitioning.MaxParallel = DefaultMaxParallel
	}
	if s.Partitioning.Timeout == 0 {
		s.Partitioning.Timeout = Duration(DefaultPartitionTimeout)
	}
	if s.Partitioning.Retries == 0 {
		s.Partitioning.Retries = DefaultRetries
	}
	if len(s.Destinations) == 0 {
		s.Destinations = []Destination{{Binding: DefaultDestination}}
	}
	for i := range s.Destinations {
		if s.Destinations[i].Prefix == "" {
			s.Destinations[i].Prefix = DefaultPrefix
		}
	}
	if p := s.Source.Password; p != nil && p.Store == "" {
		p.Store = DefaultSecretStore
	}
	if s.MaxTextBytes == 0 {
		s.MaxTextBytes = model.DefaultMaxTextBytes
	}
}

var (
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	prefixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
	kinds         = []string{"postgres", "mysql", "sqlite"}
)

// Validate reports every problem at once, each naming its field and what
// to do. It never echoes a DSN (a user may have pasted a password into it).
func (s Spec) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if s.Version != SpecVersion {
		add("version: is %d; this agent reads version %d (add `version: %d`)", s.Version, SpecVersion, SpecVersion)
	}
	if strings.TrimSpace(s.Connection) == "" {
		add("connection: is empty; set the catalog connection's qualified name, e.g. default/postgres/1700000000")
	} else if len(s.Connection) > 512 {
		add("connection: is %d characters; the limit is 512", len(s.Connection))
	}
	if !contains(kinds, s.Source.Kind) {
		add("source.kind: %q is not a source kind; use one of %s", s.Source.Kind, strings.Join(kinds, ", "))
	}
	if strings.TrimSpace(s.Source.DSN) == "" {
		add("source.dsn: is empty; set the server address (postgres://user@host:5432/db, user@tcp(host:3306)/) or the SQLite file path")
	} else if problem := dsnProblem(s.Source.Kind, s.Source.DSN); problem != "" {
		add("source.dsn: %s", problem)
	}
	if s.Source.ConnectTimeout < 0 {
		add("source.connect_timeout: must not be negative")
	}
	if r := s.Source.Password; r != nil {
		if !namePattern.MatchString(r.Store) {
			add("source.password.store: %q is not a secret store component name", r.Store)
		}
		if strings.TrimSpace(r.Key) == "" {
			add("source.password.key: is empty; name the secret that holds the source password")
		}
	}
	if s.Source.Kind == "sqlite" && s.Source.Password != nil {
		add("source.password: SQLite sources have no password; remove it")
	}
	if _, err := s.Filters.Compile(); err != nil {
		add("filters: %v", err)
	}
	if err := model.ValidateExcludeFields(s.ExcludeFields); err != nil {
		add("exclude_fields: %v", err)
	}
	if err := model.ValidateMaxTextBytes(s.MaxTextBytes); err != nil {
		add("max_text_bytes: %v", err)
	}
	if s.Mode != "" && s.Mode != ModeFull && s.Mode != ModeIncremental {
		add("mode: %q is not a mode; use %s (only what changed since the last run; the default once there was one) or %s (every asset)",
			s.Mode, ModeIncremental, ModeFull)
	}
	if err := changeset.CheckMaxDeletionShare(s.MaxDeletionShare); err != nil {
		add("%v", err)
	}
	if s.Schedule != nil {
		p = append(p, s.Schedule.problems()...)
		if !ScheduleNamePattern.MatchString(s.Name) {
			add("name: is %q; a scheduled spec needs a name that names its schedule: 1 to 63 lowercase letters, digits or '-' (e.g. sales-pg-nightly)", s.Name)
		}
		if s.DryRun {
			add("dry_run: a schedule runs for real; remove dry_run, or remove schedule and run the plan once (agentctl plan SPEC)")
		}
	}
	pt := s.Partitioning
	if pt.By != "auto" && pt.By != "database" {
		add("partitioning.by: %q is not a partitioning; use auto or database", pt.By)
	}
	if pt.TablesPerPartition < 1 {
		add("partitioning.tables_per_partition: must be at least 1")
	}
	if pt.MaxParallel < 1 || pt.MaxParallel > 64 {
		add("partitioning.max_parallel: is %d; use 1 to 64", pt.MaxParallel)
	}
	if pt.Timeout.D() < 10*time.Second {
		add("partitioning.timeout: is %s; use at least 10s", pt.Timeout.D())
	}
	if pt.Retries < 0 || pt.Retries > 10 {
		add("partitioning.retries: is %d; use 0 to 10", pt.Retries)
	}
	seen := map[string]bool{}
	for i, d := range s.Destinations {
		if !namePattern.MatchString(d.Binding) {
			add("destinations[%d].binding: %q is not an output binding component name", i, d.Binding)
		}
		if d.JobID != "" && (d.Binding != DestinationControlPlane || !namePattern.MatchString(d.JobID)) {
			add("destinations[%d].job_id: %q is only for binding %s and must be a job id of letters, digits, '.', '_' or '-'", i, d.JobID, DestinationControlPlane)
		}
		if !prefixPattern.MatchString(d.Prefix) || strings.Contains(d.Prefix, "..") {
			add("destinations[%d].prefix: %q must be path segments of letters, digits, '.', '_' or '-' separated by '/'", i, d.Prefix)
		}
		if seen[d.Binding] {
			add("destinations[%d].binding: %q is listed twice", i, d.Binding)
		}
		seen[d.Binding] = true
	}
	p = append(p, s.checkCounts()...)
	p = append(p, s.checkText()...)
	p = append(p, s.checkSize()...)
	if len(p) > 0 {
		return fmt.Errorf("invalid job spec:\n  - %s", strings.Join(p, "\n  - "))
	}
	return nil
}

// dsnProblem asks the source kind's driver parser (libs/dsncheck) whether
// it would take a password or another secret from the DSN, or cannot parse
// it; "" means neither. The answer never quotes the DSN.
func dsnProblem(kind, dsn string) string {
	err := dsncheck.Check(kind, dsn)
	var secret *dsncheck.SecretError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &secret):
		return fmt.Sprintf("contains a password (%s); remove it and reference the password in the secret store with source.password {store, key}", secret.Where)
	default:
		return err.Error()
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
