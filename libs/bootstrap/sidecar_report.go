package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/objectstore"
)

// SidecarRoute is the path every service answers with its SidecarReport.
const SidecarRoute = "/v1/sidecar"

// HealthKey is the reserved key reachability checks read from state stores
// and object stores. Nothing ever writes it, so a check is a miss that
// proves the store answers, and it never touches a job's data.
const HealthKey = ".sa-health"

// ComponentCheckTimeout bounds each component's reachability check.
const ComponentCheckTimeout = 2 * time.Second

// Component check results.
const (
	CheckOK     = "ok"     // the store answered
	CheckError  = "error"  // the store did not answer, or failed; Detail says why
	CheckLoaded = "loaded" // the sidecar loaded it; no safe, cheap check exists (secret stores, pub/sub)
)

// SidecarReport is the answer of GET /v1/sidecar: this app's sidecar as it
// sees itself, and a reachability check of each component it loaded.
type SidecarReport struct {
	AppID      string            `json:"app_id"`
	Sidecar    SidecarInfo       `json:"sidecar"`
	Components []ComponentReport `json:"components"`
	CheckedAt  time.Time         `json:"checked_at"`
	DurationMs int64             `json:"duration_ms"`
}

// SidecarInfo is the runtime part of the sidecar's metadata.
type SidecarInfo struct {
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	// ID is the app id the sidecar runs for; it differs from AppID only
	// when the app and its sidecar were started with different ids.
	ID            string      `json:"id,omitempty"`
	Version       string      `json:"version,omitempty"`
	AppConnected  bool        `json:"app_connected"`
	Subscriptions int         `json:"subscriptions"`
	Actors        *ActorsInfo `json:"actors,omitempty"`
}

// ActorsInfo is present when the sidecar runs an actor runtime (the
// workflow engine needs one and its placement connection).
type ActorsInfo struct {
	RuntimeStatus      string `json:"runtime_status"`
	Placement          string `json:"placement,omitempty"`
	PlacementConnected bool   `json:"placement_connected"`
}

// actorsRunning is the actor runtime status of a sidecar configured with
// a placement service (DISABLED: none configured, INITIALIZING: starting).
const actorsRunning = "RUNNING"

// ComponentReport is one component and its check.
type ComponentReport struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
	Check   string `json:"check"` // ok, error or loaded
	Detail  string `json:"detail,omitempty"`
}

// Problems lists what is wrong in the report, one sentence each; empty
// when the sidecar is healthy and every check passed.
func (r SidecarReport) Problems() []string {
	var p []string
	if !r.Sidecar.Healthy {
		p = append(p, "sidecar unhealthy: "+r.Sidecar.Error)
	}
	if a := r.Sidecar.Actors; a != nil && a.RuntimeStatus == actorsRunning && !a.PlacementConnected {
		p = append(p, "actor runtime running but not connected to placement: workflows and actors cannot run; check the placement service")
	}
	for _, c := range r.Components {
		if c.Check == CheckError {
			p = append(p, fmt.Sprintf("component %s (%s): %s", c.Name, c.Type, c.Detail))
		}
	}
	return p
}

// sidecarSource is the sidecar's own view of itself.
type sidecarSource interface {
	Healthy(ctx context.Context) error
	Metadata(ctx context.Context) (*daprclient.Metadata, error)
}

// componentReader is what the reachability checks call on the sidecar.
type componentReader interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	InvokeBinding(ctx context.Context, in *dapr.InvokeBindingRequest) (*dapr.BindingEvent, error)
}

// SidecarReporter builds SidecarReports for one app.
type SidecarReporter struct {
	appID   string
	sidecar sidecarSource
	reader  componentReader
	timeout time.Duration
	log     *zap.Logger
}

// NewSidecarReporter reports on sc, the app's own connected sidecar.
func NewSidecarReporter(appID string, sc *daprclient.Sidecar, log *zap.Logger) *SidecarReporter {
	return newSidecarReporter(appID, sc, sc.Client(), ComponentCheckTimeout, log)
}

func newSidecarReporter(appID string, sc sidecarSource, reader componentReader, timeout time.Duration, log *zap.Logger) *SidecarReporter {
	if log == nil {
		log = zap.NewNop()
	}
	return &SidecarReporter{appID: appID, sidecar: sc, reader: reader, timeout: timeout, log: log}
}

// RegisterSidecarReport adds GET /v1/sidecar to app. It always answers 200
// with the report: the report carries its own verdict, and a 5xx would
// count against the caller's resiliency policy (retries, circuit breakers)
// for what is a successful answer. Readiness stays /readyz's job.
func RegisterSidecarReport(app *fiber.App, appID string, sc *daprclient.Sidecar, log *zap.Logger) *SidecarReporter {
	r := NewSidecarReporter(appID, sc, log)
	app.Get(SidecarRoute, func(c *fiber.Ctx) error {
		return c.JSON(r.Report(c.UserContext()))
	})
	return r
}

// Report reads the sidecar's metadata and checks every component it
// loaded, in parallel, each within the check timeout.
func (r *SidecarReporter) Report(ctx context.Context) SidecarReport {
	start := time.Now()
	rep := SidecarReport{AppID: r.appID, CheckedAt: start.UTC(), Components: []ComponentReport{}}
	// One budget for the sidecar's own questions and one for the
	// component checks keep the whole report within twice the timeout.
	sctx, cancel := context.WithTimeout(ctx, r.timeout)
	herr := r.sidecar.Healthy(sctx)
	md, merr := r.sidecar.Metadata(sctx)
	cancel()
	switch {
	case herr != nil:
		rep.Sidecar.Error = herr.Error()
	case merr != nil:
		rep.Sidecar.Error = merr.Error()
	default:
		rep.Sidecar.Healthy = true
	}
	if merr == nil && md != nil {
		rep.Sidecar.ID = md.ID
		rep.Sidecar.Version = md.RuntimeVersion
		rep.Sidecar.AppConnected = md.AppConnection != nil
		rep.Sidecar.Subscriptions = len(md.Subscriptions)
		if a := md.ActorRuntime; a != nil {
			rep.Sidecar.Actors = &ActorsInfo{RuntimeStatus: a.RuntimeStatus, Placement: a.Placement, PlacementConnected: md.PlacementConnected}
		}
		rep.Components = r.checkAll(ctx, md.Components)
	}
	// The report is where a problem is handled (health shows it); a debug
	// line keeps the app's own log quiet when it is polled every few seconds.
	for _, p := range rep.Problems() {
		r.log.Debug("sidecar report", zap.String("problem", p))
	}
	rep.DurationMs = time.Since(start).Milliseconds()
	return rep
}

func (r *SidecarReporter) checkAll(ctx context.Context, comps []daprclient.Component) []ComponentReport {
	out := make([]ComponentReport, len(comps))
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, r.timeout)
			defer cancel()
			check, detail := r.check(cctx, c)
			out[i] = ComponentReport{Name: c.Name, Type: c.Type, Version: c.Version, Check: check, Detail: detail}
		}()
	}
	wg.Wait()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// check runs the cheap, side-effect-free check a component type allows.
func (r *SidecarReporter) check(ctx context.Context, c daprclient.Component) (string, string) {
	family, _, _ := strings.Cut(c.Type, ".")
	switch family {
	case "state":
		_, err := r.reader.GetState(ctx, c.Name, HealthKey, nil)
		if err != nil {
			return CheckError, r.failure(ctx, "read a missing key", err)
		}
		return CheckOK, ""
	case "bindings":
		if !IsObjectStore(c.Type) {
			// A "get" on other bindings is not harmless (bindings.http
			// would send a request to its URL), so they are not touched.
			return CheckLoaded, "not an object store; reachability not checked"
		}
		return r.checkBinding(ctx, c.Name)
	case "secretstores":
		return CheckLoaded, "not read: any read would be a secret access"
	case "pubsub":
		return CheckLoaded, "not checked here; health's broker probe sends a message through it"
	default:
		return CheckLoaded, ""
	}
}

// IsObjectStore reports whether objectstore.Store drives bindings of this
// type, whose "get" of a missing key is a harmless miss.
func IsObjectStore(typ string) bool {
	switch typ {
	case "bindings.localstorage", "bindings.aws.s3", "bindings.azure.blobstorage",
		"bindings.gcp.bucket", "bindings.alicloud.oss", "bindings.huawei.obs":
		return true
	}
	return false
}

// checkBinding reads the reserved key as an object. "list" on the root is
// not used: on a real bucket it can be slow and large. A missing object is
// the expected answer and proves the store is reachable.
func (r *SidecarReporter) checkBinding(ctx context.Context, name string) (string, string) {
	_, err := objectstore.New(r.reader, name).Get(ctx, HealthKey)
	if err == nil || errkind.Of(err) == errkind.NotFound || looksNotFound(err) {
		return CheckOK, ""
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not support operation"):
		return CheckLoaded, "the binding has no get operation; reachability not checked"
	case strings.Contains(msg, "couldn't find output binding"):
		return CheckLoaded, "an input binding; reachability not checked"
	}
	return CheckError, r.failure(ctx, "read a missing object", err)
}

// looksNotFound catches the "missing object" answers objectstore does not
// classify (Azure's BlobNotFound, GCS's "object doesn't exist").
func looksNotFound(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "notfound") || strings.Contains(msg, "doesn't exist")
}

// maxDetail bounds a check's detail: store errors can quote long answers.
const maxDetail = 500

func (r *SidecarReporter) failure(ctx context.Context, what string, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("%s: no answer within %s; check the store is up and reachable from the sidecar", what, r.timeout)
	}
	msg := what + ": " + err.Error()
	if len(msg) > maxDetail {
		msg = msg[:maxDetail] + "…"
	}
	return msg
}
