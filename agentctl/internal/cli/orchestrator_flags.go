package cli

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// defaultOrchestrator is the orchestrator of the stack `make run` starts.
const defaultOrchestrator = "http://127.0.0.1:17100"

// orchestratorEnv names the environment variable that replaces the default.
const orchestratorEnv = "SA_ORCHESTRATOR_URL"

// tokenEnv holds the job API token; it beats the data dir's token file.
const tokenEnv = "SA_API_TOKEN"

// tokenFileName is the job API token file the launcher keeps in the data
// dir (deploy/local/stack.APITokenFile).
const tokenFileName = "api-token"

// orchestratorFlags are the --orchestrator and --token-file flags every
// job command has.
type orchestratorFlags struct {
	raw       string
	tokenFile string

	// Set by validate.
	client *orchestrator
	local  bool // the orchestrator listens on loopback: the local stack
	// destDir is where the local stack's destination binding writes:
	// $SA_DESTINATION_DIR (what the component reads; devstack sets it for
	// the demo), else DATA_DIR/destination (localDataDir), made absolute.
	destDir string
}

func (o *orchestratorFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&o.raw, "orchestrator", "", "orchestrator API `URL` (default $"+orchestratorEnv+", else "+defaultOrchestrator+", the local stack)")
	fs.StringVar(&o.tokenFile, "token-file", "", "`FILE` holding the job API token (default $"+tokenEnv+
		", else DATA_DIR/"+tokenFileName+" of the local stack: $SA_DATA_DIR, $DATA_DIR or ./data)")
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
	base, problem := baseURL(from, v, defaultOrchestrator)
	if problem != "" {
		return []string{problem}
	}
	o.client = newOrchestrator(base)
	o.client.token, o.client.tokenFrom, problem = o.findToken(env)
	if problem != "" {
		return []string{problem}
	}
	if u, err := url.Parse(base); err == nil {
		o.local = isLoopbackHost(u.Hostname())
	}
	dataDir, _ := localDataDir(env)
	o.destDir = filepath.Join(dataDir, "destination")
	if d, ok := env.LookupEnv("SA_DESTINATION_DIR"); ok && strings.TrimSpace(d) != "" {
		o.destDir = strings.TrimSpace(d)
	}
	if abs, err := filepath.Abs(o.destDir); err == nil {
		o.destDir = abs
	}
	return nil
}

// baseURL checks an API base URL given by from (a flag or variable) and
// answers it without a trailing slash, or the problem with it.
func baseURL(from, v, example string) (base, problem string) {
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return "", fmt.Sprintf("%s %q is not an http(s) URL such as %s", from, v, example)
	case u.User != nil:
		return "", fmt.Sprintf("%s must not carry credentials in the URL", from)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Sprintf("%s %q: give the base URL without ?query or #fragment", from, v)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), ""
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

// findToken returns the job API token and where it came from: --token-file,
// else $SA_API_TOKEN, else the local stack's DATA_DIR/api-token. Without
// any, agentctl sends no token and says where it looked if refused.
func (o *orchestratorFlags) findToken(env *Env) (token, from, problem string) {
	if o.tokenFile != "" {
		tok, err := readTokenFile(o.tokenFile)
		if err != nil {
			return "", "", fmt.Sprintf("--token-file %s: %v", o.tokenFile, err)
		}
		return tok, "sent the token from --token-file " + o.tokenFile, ""
	}
	if v, ok := env.LookupEnv(tokenEnv); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v), "sent the token from " + tokenEnv, ""
	}
	dir, dirFrom := localDataDir(env)
	file := filepath.Join(dir, tokenFileName)
	tok, err := readTokenFile(file)
	if err != nil {
		return "", fmt.Sprintf("sent no token: %s %v (%s); pass --token-file FILE or set %s", file, err, dirFrom, tokenEnv), ""
	}
	return tok, "sent the token from " + file, ""
}

// localDataDir is the local stack's data dir: $SA_DATA_DIR, else $DATA_DIR
// (what `make run` reads), else ./data; from says which, for messages.
func localDataDir(env *Env) (dir, from string) {
	for _, name := range []string{"SA_DATA_DIR", "DATA_DIR"} {
		if v, ok := env.LookupEnv(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), "the data dir from $" + name
		}
	}
	return "data", "./data, the local stack's default data dir; set SA_DATA_DIR for another"
}

// readTokenFile reads a one-line token; errors never contain the content.
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", errors.New("does not exist")
	case err != nil:
		return "", fmt.Errorf("cannot be read (%v)", rootPathError(err))
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", errors.New("does not hold a token (one line without spaces)")
	}
	return tok, nil
}

// rootPathError drops the path os.PathError repeats.
func rootPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
