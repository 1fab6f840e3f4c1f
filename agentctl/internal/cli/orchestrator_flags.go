package cli

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// defaultOrchestrator is the orchestrator of the stack `make run` starts.
const defaultOrchestrator = "http://127.0.0.1:17100"

// orchestratorEnv names the environment variable that replaces the default.
const orchestratorEnv = "SA_ORCHESTRATOR_URL"

// orchestratorFlags is the --orchestrator flag every job command has.
type orchestratorFlags struct {
	raw string

	// Set by validate.
	client *orchestrator
	local  bool // the orchestrator listens on loopback: the local stack
	// destDir is where the local stack's destination binding writes:
	// $SA_DESTINATION_DIR (what the component reads; devstack sets it for
	// the demo), else data/destination.
	destDir string
}

func (o *orchestratorFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&o.raw, "orchestrator", "", "orchestrator API `URL` (default $"+orchestratorEnv+", else "+defaultOrchestrator+", the local stack)")
}

func (o *orchestratorFlags) validate(env *Env) []string {
	v, from := o.raw, "--orchestrator"
	if v == "" {
		if e, ok := env.LookupEnv(orchestratorEnv); ok && strings.TrimSpace(e) != "" {
			v, from = strings.TrimSpace(e), orchestratorEnv
		} else {
			v = defaultOrchestrator
		}
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return []string{fmt.Sprintf("%s %q is not an http(s) URL such as %s", from, v, defaultOrchestrator)}
	case u.User != nil:
		return []string{fmt.Sprintf("%s must not carry credentials in the URL", from)}
	case u.RawQuery != "" || u.Fragment != "":
		return []string{fmt.Sprintf("%s %q: give the base URL without ?query or #fragment", from, v)}
	}
	o.client = newOrchestrator(strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"))
	o.local = isLoopbackHost(u.Hostname())
	o.destDir = localDestinationDir
	if d, ok := env.LookupEnv("SA_DESTINATION_DIR"); ok && strings.TrimSpace(d) != "" {
		o.destDir = strings.TrimSpace(d)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// jobIDArg is the ID argument of status, cancel and manifest.
type jobIDArg struct{ id string }

func (a *jobIDArg) argsUsage() string { return "ID" }

func (a *jobIDArg) setArgs(args []string) []string {
	switch {
	case len(args) == 0:
		return []string{"ID is required: the job id `agentctl run` printed (`agentctl list` shows recent ones)"}
	case len(args) > 1:
		return []string{fmt.Sprintf("give one job ID; found %d arguments: %s", len(args), strings.Join(args, " "))}
	case !jobIDPattern.MatchString(args[0]):
		return []string{fmt.Sprintf("%q is not a job id (letters, digits, '.', '_' or '-'; `agentctl list` shows them)", args[0])}
	}
	a.id = args[0]
	return nil
}
