package cli

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strings"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// sourceFlags are the flags extract and preflight share: what to read and
// how to authenticate.
type sourceFlags struct {
	kind, dsn, connection string
	databases             listFlag
	include, exclude      listFlag
	includeTable          listFlag
	excludeTable          listFlag
	tempTables            string
	excludeFields         commaFlag
	requireTLS            bool
	passwordEnv           string

	// Set by validate.
	source connector.Source
	creds  connector.Credentials
}

const dsnEnvPrefix = "env:"

func (s *sourceFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&s.kind, "source", "", "source `kind`: postgres, mysql (MySQL/MariaDB) or sqlite")
	fs.StringVar(&s.dsn, "dsn", "", "connection `URL` or SQLite file path; env:NAME reads it (password included) from the environment variable NAME")
	fs.StringVar(&s.connection, "connection", "", "catalog connection qualified `name`, the prefix of every asset's name (default default/<source>/agentctl)")
	fs.Var(&s.databases, "database", "read only this database `name` (repeatable; default: the database the DSN names, or every database the user can see if it names none; * for every database)")
	fs.Var(&s.include, "include", "include schemas whose \"database.schema\" matches this `regex` (repeatable)")
	fs.Var(&s.exclude, "exclude", "exclude schemas whose \"database.schema\" matches this `regex` (repeatable)")
	fs.Var(&s.includeTable, "include-table", "include tables whose \"schema.table\" matches this `regex` (repeatable)")
	fs.Var(&s.excludeTable, "exclude-table", "exclude tables whose \"schema.table\" matches this `regex` (repeatable)")
	fs.StringVar(&s.tempTables, "temp-tables", "", "skip tables whose name matches this `regex`")
	fs.Var(&s.excludeFields, "exclude-fields", "write these `fields` as null (comma-separated; e.g. comment,view_definition)")
	fs.BoolVar(&s.requireTLS, "require-tls", false, "refuse an unencrypted connection")
	fs.StringVar(&s.passwordEnv, "password-env", "", "read the source password from the environment variable `NAME`")
}

// envName is what POSIX shells accept as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate builds the connector.Source and credentials, returning every
// problem. The DSN's value is never put in a message: it may hold a password.
func (s *sourceFlags) validate(env *Env) []string {
	var problems []string
	kinds := env.Registry.Kinds()
	switch {
	case s.kind == "":
		problems = append(problems, "--source is required: one of "+strings.Join(kinds, ", "))
	case env.Registry[s.kind] == nil:
		problems = append(problems, fmt.Sprintf("--source %q is not supported: use one of %s", s.kind, strings.Join(kinds, ", ")))
	}

	src := connector.Source{
		Kind:          s.kind,
		Connection:    s.connection,
		Databases:     s.databases,
		ExcludeFields: s.excludeFields,
		RequireTLS:    s.requireTLS,
		Filters: connector.Filters{
			IncludeSchemas: s.include, ExcludeSchemas: s.exclude,
			IncludeTables: s.includeTable, ExcludeTables: s.excludeTable,
			TempTables: s.tempTables,
		},
	}
	if src.Connection == "" {
		src.Connection = "default/" + s.kind + "/agentctl"
	}

	switch {
	case strings.TrimSpace(s.dsn) == "":
		problems = append(problems, "--dsn is required: a connection URL or SQLite file path, or env:NAME to read it from an environment variable")
	case strings.HasPrefix(s.dsn, dsnEnvPrefix):
		name := strings.TrimPrefix(s.dsn, dsnEnvPrefix)
		if !envName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("--dsn env:%s: %q is not an environment variable name", name, name))
			break
		}
		v, ok := env.LookupEnv(name)
		if !ok || strings.TrimSpace(v) == "" {
			problems = append(problems, fmt.Sprintf("--dsn env:%s: the environment variable %s is not set or empty; export it with the DSN", name, name))
			break
		}
		// The DSN came from the environment, so a password in it was never
		// on a command line or in shell history.
		src.DSN, src.AllowInlinePassword = v, true
	default:
		src.DSN = s.dsn
	}

	s.creds = connector.NoCredentials{}
	if s.passwordEnv != "" {
		if !envName.MatchString(s.passwordEnv) {
			problems = append(problems, fmt.Sprintf("--password-env %q is not an environment variable name", s.passwordEnv))
		} else if v, ok := env.LookupEnv(s.passwordEnv); !ok || v == "" {
			problems = append(problems, fmt.Sprintf("--password-env %s: the environment variable %s is not set or empty", s.passwordEnv, s.passwordEnv))
		} else {
			s.creds = envCredentials{name: s.passwordEnv, lookup: env.LookupEnv}
		}
	}

	for i, d := range s.databases {
		if strings.TrimSpace(d) == "" {
			problems = append(problems, fmt.Sprintf("--database (occurrence %d) is empty; give a database name", i+1))
		}
	}
	problems = append(problems, filterProblems("--include", s.include, func(p string) connector.Filters { return connector.Filters{IncludeSchemas: []string{p}} })...)
	problems = append(problems, filterProblems("--exclude", s.exclude, func(p string) connector.Filters { return connector.Filters{ExcludeSchemas: []string{p}} })...)
	problems = append(problems, filterProblems("--include-table", s.includeTable, func(p string) connector.Filters { return connector.Filters{IncludeTables: []string{p}} })...)
	problems = append(problems, filterProblems("--exclude-table", s.excludeTable, func(p string) connector.Filters { return connector.Filters{ExcludeTables: []string{p}} })...)
	if s.tempTables != "" {
		problems = append(problems, filterProblems("--temp-tables", []string{s.tempTables}, func(p string) connector.Filters { return connector.Filters{TempTables: p} })...)
	}
	if err := model.ValidateExcludeFields(s.excludeFields); err != nil {
		problems = append(problems, "--exclude-fields: "+err.Error())
	}
	s.source = src
	return problems
}

// filterProblems compiles each pattern of one flag on its own so that the
// message names the flag the user typed rather than the filter's field.
func filterProblems(flagName string, patterns []string, mk func(string) connector.Filters) []string {
	var out []string
	for _, p := range patterns {
		_, err := mk(p).Compile()
		if err == nil {
			continue
		}
		msg := err.Error()
		// Compile lists problems as "\n  - <field>: <reason>"; keep the reason.
		if _, reason, ok := strings.Cut(msg, "\n  - "); ok {
			if _, r, ok := strings.Cut(reason, ": "); ok {
				msg = r
			} else {
				msg = reason
			}
		}
		out = append(out, flagName+": "+msg)
	}
	return out
}

// envCredentials reads the password from an environment variable at
// connect time, so it lives in memory only as long as the driver needs it.
type envCredentials struct {
	name   string
	lookup LookupEnv
}

func (c envCredentials) Password(context.Context) (secret.Value, error) {
	v, ok := c.lookup(c.name)
	if !ok || v == "" {
		return secret.Value{}, fmt.Errorf("the environment variable %s (--password-env) is not set or empty", c.name)
	}
	return secret.New(v), nil
}
