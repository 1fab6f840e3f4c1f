package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Retryable reports whether a failed run may succeed when tried again:
// transient errors (a dependency unavailable, a deadline) and failures to
// reach the source.
func Retryable(err error) bool {
	if errkind.Of(err) == errkind.Transient {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH)
}

// describePartition names a partition for messages.
func describePartition(p job.Partition) string {
	var where string
	switch {
	case p.Database == "" && len(p.Schemas) == 0:
		where = "the whole source"
	case p.Database == "":
		where = "schemas " + strings.Join(p.Schemas, ", ")
	case len(p.Schemas) == 0:
		where = fmt.Sprintf("database %q", p.Database)
	default:
		where = fmt.Sprintf("database %q, schemas %s", p.Database, strings.Join(p.Schemas, ", "))
	}
	if r := p.Range; r != nil {
		switch {
		case r.From == "":
			where += fmt.Sprintf(", tables before %q", r.Before)
		case r.Before == "":
			where += fmt.Sprintf(", tables from %q", r.From)
		default:
			where += fmt.Sprintf(", tables from %q before %q", r.From, r.Before)
		}
	}
	return fmt.Sprintf("partition %s (%s)", p.ID, where)
}

// failureMessage is PartitionDone.Error of a failed run: which partition,
// what happened and what to do. err is already free of secrets.
func failureMessage(req job.ExtractRequest, err error, timedOut bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "extraction of %s of job %s failed: ", describePartition(req.Partition), req.JobID)
	if timedOut {
		fmt.Fprintf(&b, "it did not finish within partitioning.timeout (%s); ", req.Spec.Partitioning.Timeout.D())
	}
	b.WriteString(err.Error())
	switch {
	case timedOut:
		b.WriteString(". The job retries the partition; if it keeps timing out, raise partitioning.timeout " +
			"or lower partitioning.tables_per_partition so that partitions are smaller")
	case Retryable(err):
		b.WriteString(". The source or a service the extractor needs was unavailable; the job retries the partition " +
			"(1 + partitioning.retries attempts). If it keeps failing, check that the source is running and reachable from the extractor")
	default:
		b.WriteString(". Fix the cause above (source settings, credentials, privileges or filters of the job spec), " +
			"check it with a preflight, and submit the job again")
	}
	return b.String()
}

// scrubbingCredentials remembers the passwords it hands out during one
// run, only so that they can be cut out of the run's error text; it is
// dropped with the run. It passes the connector's destinations on, so the
// secret's host binding is checked as if it were not there.
type scrubbingCredentials struct {
	inner connector.Credentials

	mu   sync.Mutex
	seen []string
	// unaudited is set when a read failed because the audit log did not
	// record it: the caller answers "try again", not "fix the source".
	unaudited error
}

var _ connector.BoundCredentials = (*scrubbingCredentials)(nil)

func (c *scrubbingCredentials) Password(ctx context.Context) (secret.Value, error) {
	pw, err := c.inner.Password(ctx)
	c.remember(pw)
	c.noteAudit(err)
	return pw, err
}

func (c *scrubbingCredentials) PasswordFor(ctx context.Context, to []connector.Target) (secret.Value, error) {
	pw, err := connector.PasswordFor(ctx, c.inner, to)
	c.remember(pw)
	c.noteAudit(err)
	return pw, err
}

func (c *scrubbingCredentials) noteAudit(err error) {
	if errors.Is(err, audit.ErrUnavailable) {
		c.mu.Lock()
		c.unaudited = err
		c.mu.Unlock()
	}
}

// auditUnavailable is the audit failure a read met, if any.
func (c *scrubbingCredentials) auditUnavailable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unaudited
}

func (c *scrubbingCredentials) remember(v secret.Value) {
	pw := v.Reveal()
	if pw == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.seen, pw) {
		c.seen = append(c.seen, pw)
	}
}

// scrub cuts every password handed out from s, in every form a server may
// echo it (base64, URL-encoded, hex: logging.SecretForms).
func (c *scrubbingCredentials) scrub(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pw := range c.seen {
		s = logging.RedactSecret(s, pw)
	}
	return s
}

// wrap returns err with its text scrubbed, keeping its chain for
// errkind.Of and errors.As.
func (c *scrubbingCredentials) wrap(err error) error {
	if err == nil {
		return nil
	}
	return scrubbedError{err: err, scrub: c.scrub}
}

type scrubbedError struct {
	err   error
	scrub func(string) string
}

func (e scrubbedError) Error() string { return e.scrub(e.err.Error()) }
func (e scrubbedError) Unwrap() error { return e.err }
