package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// defaultHealth is the health service of the stack `make run` starts.
const defaultHealth = "http://127.0.0.1:17130"

// healthEnv names the environment variable that replaces the default.
const healthEnv = "SA_HEALTH_URL"

// deadLetter is one kept dead letter as the health service answers it.
type deadLetter struct {
	pubsub.DeadLetter
	Received   int        `json:"received"`
	Replays    int        `json:"replays,omitempty"`
	LastReplay *time.Time `json:"last_replay,omitempty"`
	LastResult string     `json:"last_result,omitempty"`
}

type deadLetterList struct {
	DeadLetters []deadLetter `json:"dead_letters"`
}

type replayOutcome struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// deadLettersCmd lists, shows, replays and discards the messages an app
// refused (kept by the health service).
type deadLettersCmd struct {
	rawURL    string
	tokenFile string
	all       bool
	jsonOut   bool

	action string
	ids    []string
	client *orchestrator
}

func (c *deadLettersCmd) name() string { return "deadletters" }
func (c *deadLettersCmd) synopsis() string {
	return "list, show, replay or discard messages an app refused (the health service keeps them)"
}
func (c *deadLettersCmd) argsUsage() string {
	return "list | show ID | replay ID...|--all | discard ID..."
}

func (c *deadLettersCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.rawURL, "health", "", "health service `URL` (default $"+healthEnv+", else "+defaultHealth+", the local stack)")
	fs.StringVar(&c.tokenFile, "token-file", "", "`FILE` holding the API token (default $"+tokenEnv+
		", else DATA_DIR/"+tokenFileName+" of the local stack: $SA_DATA_DIR, $DATA_DIR or ./data)")
	fs.BoolVar(&c.all, "all", false, "replay: every kept dead letter, oldest first")
	fs.BoolVar(&c.jsonOut, "json", false, "list, show: print JSON")
}

func (c *deadLettersCmd) setArgs(args []string) []string {
	if len(args) == 0 {
		return []string{"say what to do: list, show ID, replay ID... (or --all), or discard ID..."}
	}
	c.action, c.ids = args[0], args[1:]
	for _, id := range c.ids {
		if !strings.HasPrefix(id, "dl-") || len(id) > 64 || strings.ContainsAny(id, "/?#% ") {
			return []string{fmt.Sprintf("%q is not a dead letter id (they look like dl-0123456789abcdef; `agentctl deadletters list` shows them)", id)}
		}
	}
	switch c.action {
	case "list":
		if len(c.ids) > 0 {
			return []string{"list takes no ids"}
		}
	case "show":
		if len(c.ids) != 1 {
			return []string{"show takes one dead letter id"}
		}
	case "replay", "discard":
		// checked with the flags in validate
	default:
		return []string{fmt.Sprintf("unknown action %q: use list, show, replay or discard", c.action)}
	}
	return nil
}

func (c *deadLettersCmd) validate(env *Env) []string {
	var problems []string
	switch {
	case c.action == "replay" && c.all && len(c.ids) > 0:
		problems = append(problems, "replay: give ids or --all, not both")
	case c.action == "replay" && !c.all && len(c.ids) == 0:
		problems = append(problems, "replay: give the ids to replay, or --all")
	case c.action == "discard" && len(c.ids) == 0:
		problems = append(problems, "discard: give the ids to discard (there is no --all: look at each first)")
	case c.all && c.action != "replay":
		problems = append(problems, "--all is for replay")
	}
	client, more := healthClient(env, c.rawURL, c.tokenFile)
	c.client = client
	return append(problems, more...)
}

// healthClient is a client of the health service: --health, else
// $SA_HEALTH_URL, else the local stack's; with the job API token.
func healthClient(env *Env, rawURL, tokenFile string) (*orchestrator, []string) {
	v, from := rawURL, "--health"
	if v == "" {
		if e, ok := env.LookupEnv(healthEnv); ok && strings.TrimSpace(e) != "" {
			v, from = strings.TrimSpace(e), healthEnv
		} else {
			v = defaultHealth
		}
	}
	base, problem := baseURL(from, v, defaultHealth)
	if problem != "" {
		return nil, []string{problem}
	}
	client := newOrchestrator(base)
	client.service = "health"
	client.token, client.tokenFrom, problem = (&orchestratorFlags{tokenFile: tokenFile}).findToken(env)
	if problem != "" {
		return client, []string{problem}
	}
	return client, nil
}

func (c *deadLettersCmd) run(ctx context.Context, env *Env) error {
	switch c.action {
	case "list":
		return c.list(ctx, env)
	case "show":
		var dl deadLetter
		if err := c.client.do(ctx, http.MethodGet, "/v1/deadletters/"+url.PathEscape(c.ids[0]), nil, "", &dl, http.StatusOK); err != nil {
			return err
		}
		return writeIndentedJSON(env, dl)
	case "replay":
		ids := c.ids
		if c.all {
			l, err := c.fetch(ctx)
			if err != nil {
				return err
			}
			for _, dl := range l.DeadLetters {
				ids = append(ids, dl.ID)
			}
			if len(ids) == 0 {
				fmt.Fprintln(env.Stderr, "no dead letters to replay")
				return nil
			}
		}
		return c.replay(ctx, env, ids)
	default:
		for _, id := range c.ids {
			if err := c.client.do(ctx, http.MethodPost, "/v1/deadletters/"+url.PathEscape(id)+":discard", nil, "", nil, http.StatusNoContent, http.StatusOK); err != nil {
				return fmt.Errorf("discard %s: %w", id, err)
			}
			fmt.Fprintf(env.Stdout, "%s discarded\n", id)
		}
		return nil
	}
}

func (c *deadLettersCmd) fetch(ctx context.Context) (deadLetterList, error) {
	var l deadLetterList
	err := c.client.do(ctx, http.MethodGet, "/v1/deadletters", nil, "", &l, http.StatusOK)
	return l, err
}

func (c *deadLettersCmd) list(ctx context.Context, env *Env) error {
	l, err := c.fetch(ctx)
	if err != nil {
		return err
	}
	if l.DeadLetters == nil {
		l.DeadLetters = []deadLetter{}
	}
	if c.jsonOut {
		return writeJSONLine(env.Stdout, l)
	}
	if len(l.DeadLetters) == 0 {
		fmt.Fprintln(env.Stderr, "no dead letters: every message was accepted")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTOPIC\tREFUSED BY\tTIMES\tFIRST\tREASON")
	for _, dl := range l.DeadLetters {
		at := dl.At
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", oneLine(dl.ID), oneLine(dl.Topic), oneLine(dl.Subscriber), dl.Received,
			fmtTime(&at), clip(oneLine(dl.Reason), 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%d dead letter(s); `agentctl deadletters show ID` prints one, `replay ID` hands it back to the app that refused it\n", len(l.DeadLetters))
	return nil
}

// replay hands each dead letter back to its app; one still refused is
// reported and the command fails after trying the others.
func (c *deadLettersCmd) replay(ctx context.Context, env *Env, ids []string) error {
	var failed []string
	for _, id := range ids {
		var out replayOutcome
		err := c.client.do(ctx, http.MethodPost, "/v1/deadletters/"+url.PathEscape(id)+":replay", nil, "", &out, http.StatusOK)
		switch {
		case errors.Is(err, errInterrupted):
			return err
		case err != nil:
			failed = append(failed, id)
			fmt.Fprintf(env.Stderr, "%s: not replayed: %v\n", id, err)
		case out.Status == "SUCCESS":
			fmt.Fprintf(env.Stdout, "%s replayed: accepted\n", id)
		default:
			failed = append(failed, id)
			fmt.Fprintf(env.Stdout, "%s replayed: %s (%s); it stays kept\n", id, strings.ToLower(out.Status), oneLine(out.Error))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d dead letters were not accepted: %s", len(failed), len(ids), strings.Join(failed, ", "))
	}
	return nil
}

func writeIndentedJSON(env *Env, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.Stdout, string(b))
	return err
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
