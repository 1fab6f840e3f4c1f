package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// requestTimeout bounds one call to the orchestrator.
const requestTimeout = 30 * time.Second

// maxAnswerBytes bounds what agentctl reads of one answer (a manifest of a
// very large job is a few MiB).
const maxAnswerBytes = 64 << 20

// orchestrator is the client of the orchestrator's job API.
type orchestrator struct {
	base string // scheme://host[:port][/path], no trailing slash
	// service names the API in messages: "orchestrator", or "health" when
	// the same client talks to the health service (deadletters).
	service string
	http    *http.Client
	// token is the job API's bearer token ("" sends none); tokenFrom says
	// where it came from, or where agentctl looked, for a 401's message.
	token     string
	tokenFrom string
}

func newOrchestrator(base string) *orchestrator {
	return &orchestrator{base: base, service: "orchestrator", http: &http.Client{Timeout: requestTimeout}}
}

// apiError is an answer other than the expected one, with the
// orchestrator's {"error":{kind,message,request_id}} when it sent one.
type apiError struct {
	Status    int
	Kind      string
	Message   string
	RequestID string
}

func (e *apiError) Error() string {
	msg := printable(e.Message)
	if e.RequestID != "" {
		msg += " (request id " + e.RequestID + ")"
	}
	return msg
}

// unreachableError means nothing answered at the orchestrator's address.
type unreachableError struct {
	base    string
	service string // "" is the orchestrator
	err     error
}

func (e *unreachableError) Error() string {
	if e.service == "health" {
		return fmt.Sprintf("cannot reach the health service at %s (%v); start the stack with `make run`, "+
			"or point --health (or SA_HEALTH_URL) at a running health service", e.base, rootCause(e.err))
	}
	return fmt.Sprintf("cannot reach the orchestrator at %s (%v); start the stack with `make run`, "+
		"or point --orchestrator (or SA_ORCHESTRATOR_URL) at a running orchestrator", e.base, rootCause(e.err))
}

func (e *unreachableError) Unwrap() error { return e.err }

// rootCause drops url.Error's "Post \"http://...\":" prefix: the address is
// already in the message.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errInterrupted is a request cut short by Ctrl-C.
var errInterrupted = errors.New("interrupted")

// submitRetryFor bounds how long a submission whose answer was lost (the
// connection dropped, the orchestrator restarted or timed out) is retried.
const submitRetryFor = 90 * time.Second

// refusedRetryFor bounds how long a refused first connection is retried: an
// orchestrator that is restarting refuses for a second or two; nothing
// listening for longer is a stack that is not running.
const refusedRetryFor = 5 * time.Second

// submit posts the spec with an idempotency key made for this submission,
// so it can be sent again when its answer is lost: the orchestrator
// answers the job the first attempt created instead of creating another.
// Nothing answering at all on the first attempt fails at once (the stack
// is not running); after that, a restarting orchestrator is waited for.
func (o *orchestrator) submit(ctx context.Context, spec []byte) (job.Submitted, error) {
	var out job.Submitted
	ctype := specContentType(spec)
	key := newIdempotencyKey()
	start := time.Now()
	deadline := start.Add(submitRetryFor)
	wait := 500 * time.Millisecond
	reached := false // the orchestrator answered or took a connection once
	for {
		err := o.doWith(ctx, map[string]string{"Idempotency-Key": key}, http.MethodPost, "/v1/jobs", spec, ctype, &out,
			http.StatusAccepted, http.StatusOK, http.StatusCreated)
		if err == nil && out.ID == "" {
			err = errors.New("the orchestrator accepted the job but answered no job id; check its log")
		}
		refused := isRefused(err)
		reached = reached || (err != nil && !refused)
		if !reached && refused && time.Since(start) > refusedRetryFor {
			return out, err // nothing listens: the stack is not running
		}
		if err == nil || !retrySubmit(err) || time.Now().Add(wait).After(deadline) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, errInterrupted
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// specContentType is how a spec is sent: JSON when it is a JSON object
// (the orchestrator decodes it strictly as JSON then), else YAML.
func specContentType(spec []byte) string {
	if t := bytes.TrimSpace(spec); len(t) > 0 && t[0] == '{' {
		return "application/json"
	}
	return "application/yaml"
}

// retrySubmit tells whether a submission may have been lost on its way
// rather than refused: a dropped or refused connection (an orchestrator
// that is restarting), a timeout, a 502/503/504.
func retrySubmit(err error) bool {
	var api *apiError
	if errors.As(err, &api) {
		return api.Status == http.StatusServiceUnavailable || api.Status == http.StatusBadGateway || api.Status == http.StatusGatewayTimeout
	}
	var unreachable *unreachableError
	return errors.As(err, &unreachable)
}

// isRefused tells whether nothing listened at the orchestrator's address.
func isRefused(err error) bool {
	var unreachable *unreachableError
	return errors.As(err, &unreachable) && errors.Is(unreachable.err, syscall.ECONNREFUSED)
}

// newIdempotencyKey is random: two submissions of the same spec are two jobs.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "agentctl-" + hex.EncodeToString(b)
}

func (o *orchestrator) status(ctx context.Context, id string) (job.Status, error) {
	var out job.Status
	err := o.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, "", &out, http.StatusOK)
	return out, err
}

func (o *orchestrator) list(ctx context.Context, limit int) (job.List, error) {
	var out job.List
	err := o.do(ctx, http.MethodGet, "/v1/jobs?limit="+strconv.Itoa(limit), nil, "", &out, http.StatusOK)
	return out, err
}

func (o *orchestrator) cancel(ctx context.Context, id string) error {
	return o.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+":cancel", nil, "", nil, http.StatusAccepted, http.StatusOK)
}

func (o *orchestrator) manifest(ctx context.Context, id string) (json.RawMessage, error) {
	var out json.RawMessage
	err := o.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/manifest", nil, "", &out, http.StatusOK)
	return out, err
}

func (o *orchestrator) plan(ctx context.Context, id string) (job.Plan, error) {
	var out job.Plan
	err := o.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/plan", nil, "", &out, http.StatusOK)
	return out, err
}

// do sends one request and decodes an expected answer into out (nil:
// ignored). A transport failure is an unreachableError, unless ctx ended.
func (o *orchestrator) do(ctx context.Context, method, path string, body []byte, ctype string, out any, want ...int) error {
	return o.doWith(ctx, nil, method, path, body, ctype, out, want...)
}

// doWith is do with extra request headers.
func (o *orchestrator) doWith(ctx context.Context, header map[string]string, method, path string, body []byte, ctype string, out any, want ...int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.base+path, rd)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return &unreachableError{base: o.base, service: o.service, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return &unreachableError{base: o.base, service: o.service, err: fmt.Errorf("reading the answer: %w", err)}
	}
	for _, w := range want {
		if resp.StatusCode == w {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("the orchestrator's answer to %s %s is not what agentctl expects (%v); are agentctl and the stack the same version?", method, path, err)
			}
			makePrintable(out)
			return nil
		}
	}
	e := decodeAPIError(resp, data)
	if o.service != "orchestrator" {
		e.Message = strings.Replace(e.Message, "the orchestrator answered", "the "+o.service+" service answered", 1)
	}
	if resp.StatusCode == http.StatusUnauthorized && o.tokenFrom != "" {
		e.Message += " (agentctl " + o.tokenFrom + ")"
	}
	return e
}

func decodeAPIError(resp *http.Response, data []byte) *apiError {
	e := &apiError{Status: resp.StatusCode}
	var body struct {
		Error struct {
			Kind      string `json:"kind"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error.Message != "" {
		e.Kind, e.Message, e.RequestID = body.Error.Kind, body.Error.Message, body.Error.RequestID
		return e
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	e.Message = "the orchestrator answered " + resp.Status
	if msg != "" {
		e.Message += ": " + msg
	}
	return e
}
