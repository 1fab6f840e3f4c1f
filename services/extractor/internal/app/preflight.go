package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Check names the preflight adds to the connector's own.
const (
	CheckConnect    = "connect"    // the connector could not be opened
	CheckPartitions = "partitions" // the partition plan
)

// DefaultPreflightTimeout bounds one preflight.
const DefaultPreflightTimeout = 2 * time.Minute

// Preflighter answers POST /v1/preflight.
type Preflighter struct {
	connectors ConnectorOpener
	creds      CredentialSource
	timeout    time.Duration
	log        *zap.Logger
	metrics    *Metrics
	tracer     trace.Tracer
}

// NewPreflighter returns a preflighter; timeout 0 means
// DefaultPreflightTimeout, log, metrics and tp (the spans of its steps)
// may be nil.
func NewPreflighter(connectors ConnectorOpener, creds CredentialSource, timeout time.Duration, log *zap.Logger, metrics *Metrics,
	tp trace.TracerProvider) (*Preflighter, error) {
	if connectors == nil || creds == nil {
		return nil, fmt.Errorf("preflighter: connectors and credentials are required")
	}
	if timeout <= 0 {
		timeout = DefaultPreflightTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	if metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		metrics = m
	}
	return &Preflighter{connectors: connectors, creds: creds, timeout: timeout, log: log, metrics: metrics, tracer: tracerOf(tp)}, nil
}

// Preflight validates spec (every problem at once, errkind.Invalid),
// runs the connector's checks and, when they pass, plans the partitions.
// A source that cannot be reached is a failing check, not an error: the
// user sees its remediation.
func (p *Preflighter) Preflight(ctx context.Context, spec job.Spec) (job.Preflight, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		p.metrics.preflighted(preflightInvalid)
		return job.Preflight{}, errkind.Wrap(errkind.Invalid, err, "")
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ctx, span := p.tracer.Start(ctx, spanPreflight, trace.WithAttributes(attrSourceKind.String(spec.Source.Kind),
		attrConnection.String(spec.Connection)))
	defer span.End()
	out, unaudited := p.preflight(ctx, spec)
	if unaudited != nil {
		// Not the source's fault: the secret was not used because the
		// audit log did not record its read. The orchestrator retries.
		p.metrics.preflighted(preflightFailed)
		span.SetStatus(codes.Error, "audit log unavailable")
		return job.Preflight{}, errkind.Wrap(errkind.Transient, unaudited, "preflight of "+spec.Connection)
	}
	result := preflightOK
	if !out.OK {
		result = preflightFailed
		span.SetStatus(codes.Error, "a preflight check failed")
	}
	span.SetAttributes(attrResult.String(result))
	p.metrics.preflighted(result)
	logging.WithTrace(ctx, p.log).Info("preflight answered", zap.String("source_kind", spec.Source.Kind),
		zap.String("connection", spec.Connection), zap.Bool("ok", out.OK), zap.Int("partitions", len(out.Partitions)))
	return out, nil
}

func (p *Preflighter) preflight(ctx context.Context, spec job.Spec) (job.Preflight, error) {
	var creds *scrubbingCredentials
	out := p.run(ctx, spec, &creds)
	if creds != nil {
		return out, creds.auditUnavailable()
	}
	return out, nil
}

func (p *Preflighter) run(ctx context.Context, spec job.Spec, credsOut **scrubbingCredentials) job.Preflight {
	fail := func(checks []job.Check, name, detail, remediation string) job.Preflight {
		return job.Preflight{Checks: append(checks, job.Check{Name: name, Status: string(connector.Fail), Detail: detail, Remediation: remediation})}
	}
	inner, err := p.creds.For(spec.Source.Password)
	if err != nil {
		return fail(nil, CheckConnect, err.Error(), "fix source.password: name the secret store component and the key of the source's password")
	}
	creds := &scrubbingCredentials{inner: inner}
	*credsOut = creds
	conn, err := p.connectors.Open(ctx, SourceFor(spec, job.Partition{}), creds)
	if err != nil {
		return fail(nil, CheckConnect, creds.wrap(err).Error(),
			"fix what the detail names (source.dsn, source.databases or the file), then run the preflight again")
	}
	defer conn.Close()

	empty := connector.EmptyMatch{Allow: spec.AllowEmptyMatch, AllowHint: AllowEmptyHint}
	checks, failed := p.checks(ctx, conn, empty, creds)
	if failed {
		return job.Preflight{Checks: checks}
	}

	var plan []connector.DatabasePlan
	planner, planned := conn.(connector.Planner)
	if planned {
		if plan, err = p.plan(ctx, planner, creds); err != nil {
			return fail(checks, CheckPartitions, "plan the partitions: "+err.Error(),
				"fix what the detail names, then run the preflight again")
		}
	}
	parts := Partitions(spec.Partitioning, spec.Source.Databases, plan, planned)
	check := job.Check{Name: CheckPartitions, Status: string(connector.Pass), Detail: partitionsDetail(spec.Partitioning, parts, planned)}
	if len(parts) == 0 {
		check.Status = string(connector.Warn)
		check.Detail = "the filters and databases select nothing: the job would extract no assets"
		check.Remediation = "check source.databases and the filters"
	}
	checks = append(checks, check)
	if planned {
		// The plan counts what the filters together keep; each pattern's
		// own check above cannot see that two of them exclude each other.
		tables := 0
		for _, d := range plan {
			tables += d.Tables()
		}
		if sel := empty.Tables(tables); sel.Status != connector.Pass {
			checks = append(checks, wireCheck(sel, creds))
			if sel.Status == connector.Fail {
				return job.Preflight{Checks: checks}
			}
		}
	}
	out := job.Preflight{OK: true, Checks: checks, Partitions: parts}
	if lister, ok := conn.(connector.Lister); ok {
		listing, err := p.listing(ctx, lister, creds)
		if err != nil {
			// Not a reason to stop the job: without the listing its
			// deletions are withheld (ADR 0015), which the check says.
			out.Checks = append(out.Checks, job.Check{Name: CheckListing, Status: string(connector.Warn),
				Detail:      "list what the agent's user sees: " + err.Error() + "; this run deletes nothing from the catalog",
				Remediation: "fix what the detail names; the next run deletes what is gone"})
		} else {
			out.Listing = &listing
		}
	}
	return out
}

// CheckListing is the preflight check that reports a source listing that
// could not be read.
const CheckListing = "listing"

// listing reads what the source shows the agent's user, in its own span;
// its error never holds the source password.
func (p *Preflighter) listing(ctx context.Context, lister connector.Lister, creds *scrubbingCredentials) (_ changeset.Listing, err error) {
	ctx, span := p.tracer.Start(ctx, spanListing)
	defer func() { endSpan(span, err) }()
	l, err := lister.Listing(ctx)
	if err != nil {
		return changeset.Listing{}, creds.wrap(err)
	}
	return l, nil
}

// checks runs the connector's checks in their own span; failed: one of
// them failed.
func (p *Preflighter) checks(ctx context.Context, conn connector.Connector, empty connector.EmptyMatch,
	creds *scrubbingCredentials) (checks []job.Check, failed bool) {
	ctx, span := p.tracer.Start(ctx, spanChecks)
	defer span.End()
	for _, c := range empty.Filters(conn.Preflight(ctx)) {
		checks = append(checks, wireCheck(c, creds))
		if c.Status == connector.Fail {
			failed = true
			span.AddEvent("check failed", trace.WithAttributes(attribute.String("secure_agent.check", c.Name)))
		}
	}
	if failed {
		span.SetStatus(codes.Error, "a preflight check failed")
	}
	return checks, failed
}

// plan sizes the source in its own span; its error never holds the
// source password.
func (p *Preflighter) plan(ctx context.Context, planner connector.Planner, creds *scrubbingCredentials) (_ []connector.DatabasePlan, err error) {
	ctx, span := p.tracer.Start(ctx, spanPlan)
	defer func() { endSpan(span, err) }()
	plan, err := planner.Plan(ctx)
	if err != nil {
		return nil, creds.wrap(err)
	}
	return plan, nil
}

// AllowEmptyHint is how a job allows a selection that matches nothing.
const AllowEmptyHint = "set allow_empty_match: true in the job spec"

func wireCheck(c connector.Check, creds *scrubbingCredentials) job.Check {
	return job.Check{Name: c.Name, Status: string(c.Status), Detail: creds.scrub(c.Detail), Remediation: creds.scrub(c.Remediation)}
}

func partitionsDetail(pt job.Partitioning, parts []job.Partition, planned bool) string {
	tables := 0
	for _, p := range parts {
		tables += p.Tables
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d partition(s)", len(parts))
	if planned {
		fmt.Fprintf(&b, " holding %d table(s) and view(s)", tables)
		if pt.By == "auto" {
			fmt.Fprintf(&b, "; databases with more than %d tables are split into schema groups", pt.TablesPerPartition)
		}
	}
	return b.String()
}
