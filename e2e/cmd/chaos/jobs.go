package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
)

// jobAPI submits and follows jobs through the orchestrators' job API, as
// agentctl does. Either replica answers: when the one asked is down (it
// may be the victim) the other is.
type jobAPI struct {
	orchestrators []string // base URLs, replica 1 first
	health        string
	token         string
	http          *http.Client
}

func newJobAPI(s *stack.Stack) jobAPI {
	var urls []string
	for _, name := range []string{"orchestrator", "orchestrator-2"} {
		urls = append(urls, s.AppURL(name))
	}
	return jobAPI{orchestrators: urls, health: s.AppURL("health"), token: s.APIToken(), http: &http.Client{Timeout: 10 * time.Second}}
}

func (a jobAPI) call(ctx context.Context, method, url string, body string, hdr map[string]string) (int, []byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/yaml")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// submit posts spec with an idempotency key, so repeating a submission
// whose answer was lost (an orchestrator restarting) creates one job, and
// returns its id; it tries either replica for up to a minute.
func (a jobAPI) submit(ctx context.Context, spec, key string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		for _, o := range a.orchestrators {
			code, body, err := a.call(ctx, http.MethodPost, o+"/v1/jobs", spec, map[string]string{"Idempotency-Key": key})
			switch {
			case err != nil:
				last = err
			case code == http.StatusAccepted:
				var sub job.Submitted
				if err := json.Unmarshal(body, &sub); err != nil || sub.ID == "" {
					return "", fmt.Errorf("submit: unreadable answer %q: %v", body, err)
				}
				return sub.ID, nil
			case code >= 500:
				last = fmt.Errorf("%d: %s", code, body)
			default:
				return "", fmt.Errorf("submit: %d: %s", code, body)
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return "", fmt.Errorf("submit: no orchestrator accepted the job within a minute: %v", last)
}

// status asks either replica for the job's status.
func (a jobAPI) status(ctx context.Context, id string) (job.Status, error) {
	var last error
	for _, o := range a.orchestrators {
		code, body, err := a.call(ctx, http.MethodGet, o+"/v1/jobs/"+id, "", nil)
		if err != nil {
			last = err
			continue
		}
		if code != http.StatusOK {
			last = fmt.Errorf("status %d: %s", code, body)
			continue
		}
		var st job.Status
		if err := json.Unmarshal(body, &st); err != nil {
			return st, err
		}
		return st, nil
	}
	return job.Status{}, last
}

// wait polls the job until it ends or bound passes; stuck reports the
// latter, with the last status seen.
func (a jobAPI) wait(ctx context.Context, id string, bound time.Duration) (st job.Status, stuck bool, err error) {
	deadline := time.Now().Add(bound)
	for {
		if s, err := a.status(ctx, id); err == nil {
			st = s
			if st.State.Terminal() {
				return st, false, nil
			}
		}
		if time.Now().After(deadline) {
			return st, true, nil
		}
		select {
		case <-ctx.Done():
			return st, false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cancelJob asks for a stuck job's cancellation, so it holds nothing the
// next round needs.
func (a jobAPI) cancelJob(ctx context.Context, id string) error {
	var last error
	for _, o := range a.orchestrators {
		code, body, err := a.call(ctx, http.MethodPost, o+"/v1/jobs/"+id+":cancel", "", nil)
		if err == nil && code == http.StatusAccepted {
			return nil
		}
		last = fmt.Errorf("cancel %s: %d %s %v", id, code, body, err)
	}
	return last
}

// deadLetters counts what health keeps (agentctl deadletters list).
func (a jobAPI) deadLetters(ctx context.Context) (int, error) {
	code, body, err := a.call(ctx, http.MethodGet, a.health+"/v1/deadletters", "", nil)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("dead letters: %d: %s", code, body)
	}
	var l struct {
		DeadLetters []json.RawMessage `json:"dead_letters"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return 0, err
	}
	return len(l.DeadLetters), nil
}
