package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
)

// cancelCmd asks the orchestrator to cancel a job.
type cancelCmd struct {
	jobIDArg
	orch orchestratorFlags
}

func (c *cancelCmd) name() string { return "cancel" }
func (c *cancelCmd) synopsis() string {
	return "cancel a job: nothing more is uploaded and no manifest is written"
}
func (c *cancelCmd) define(fs *flag.FlagSet)    { c.orch.define(fs) }
func (c *cancelCmd) validate(env *Env) []string { return c.orch.validate(env) }

func (c *cancelCmd) run(ctx context.Context, env *Env) error {
	err := c.orch.client.cancel(ctx, c.id)
	var api *apiError
	if errors.As(err, &api) && api.Status == http.StatusConflict {
		return fmt.Errorf("job %s has already finished, nothing to cancel (%v); `agentctl status %s` shows how it ended", c.id, api, c.id)
	}
	if err != nil {
		return notFoundHint(err, c.id)
	}
	_, err = fmt.Fprintf(env.Stdout, "cancel requested for job %s; it stops after its current step (`agentctl status %s` shows when)\n", c.id, c.id)
	return err
}
