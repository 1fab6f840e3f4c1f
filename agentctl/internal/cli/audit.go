package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/secure-agent/secure-agent/libs/audit"
)

// auditCmd reads and checks the audit log health keeps (ADR 0014).
type auditCmd struct {
	rawURL      string
	tokenFile   string
	file        string
	logKey      string
	witnessKeys stringList
	witnessCP   string
	tsaRoots    string
	requireCosi bool
	size        uint64
	origin      string
	follow      bool
	jsonOut     bool
	last        int

	action string
	args   []string
	client *orchestrator
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (c *auditCmd) name() string { return "audit" }
func (c *auditCmd) synopsis() string {
	return "verify the tamper-evident audit log, prove an entry, show a job's chain of custody, tail entries, make keys"
}
func (c *auditCmd) argsUsage() string {
	return "verify | prove SEQ | job ID | tail | export | key | keygen"
}

func (c *auditCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.rawURL, "health", "", "health service `URL` (default $"+healthEnv+", else "+defaultHealth+", the local stack)")
	fs.StringVar(&c.tokenFile, "token-file", "", "`FILE` holding the API token (default $"+tokenEnv+
		", else DATA_DIR/"+tokenFileName+" of the local stack)")
	fs.StringVar(&c.file, "file", "", "verify, job: read an exported log from `FILE` (agentctl audit export > FILE) instead of health")
	fs.StringVar(&c.logKey, "log-key", "", "the log's checkpoint verifier `KEY` (name+hash+key), as registered with the witness; "+
		"without it the key health announces is used, which trusts the host")
	fs.Var(&c.witnessKeys, "witness-key", "a witness's cosignature verifier `KEY` (repeatable): its cosignatures must verify")
	fs.StringVar(&c.witnessCP, "witness-checkpoint", "", "verify: `FILE` holding the newest checkpoint the witness cosigned "+
		"(from the control plane): the log must extend it, or it was rolled back or forked")
	fs.StringVar(&c.tsaRoots, "tsa-roots", "", "verify: PEM `FILE` of the time-stamping authority's roots: each checkpoint's "+
		"RFC 3161 token must be signed by one (tokens are checked against their checkpoint either way)")
	fs.BoolVar(&c.requireCosi, "require-cosigned", false, "verify: fail when the newest checkpoint has no witness cosignature")
	fs.Uint64Var(&c.size, "size", 0, "prove: the checkpoint `SIZE` to prove against (default: the newest)")
	fs.StringVar(&c.origin, "origin", "", "keygen: the log's `ORIGIN`, unique per installation, e.g. secure-agent.example/acme-prod")
	fs.BoolVar(&c.follow, "follow", false, "tail: keep printing new entries")
	fs.BoolVar(&c.jsonOut, "json", false, "tail, job, verify: print JSON (tail: one canonical entry per line, for a SIEM)")
	fs.IntVar(&c.last, "n", 20, "tail: how many of the newest entries to print first (0: all)")
}

func (c *auditCmd) setArgs(args []string) []string {
	if len(args) == 0 {
		return []string{"say what to do: verify, prove SEQ, job ID, tail, key or keygen"}
	}
	c.action, c.args = args[0], args[1:]
	want := map[string]int{"verify": 0, "prove": 1, "job": 1, "tail": 0, "export": 0, "key": 0, "keygen": 0}
	n, ok := want[c.action]
	if !ok {
		return []string{fmt.Sprintf("unknown action %q: use verify, prove SEQ, job ID, tail, export, key or keygen", c.action)}
	}
	if len(c.args) != n {
		return []string{fmt.Sprintf("%s takes %d argument(s), not %d", c.action, n, len(c.args))}
	}
	if c.action == "prove" {
		if _, err := strconv.ParseUint(c.args[0], 10, 64); err != nil {
			return []string{fmt.Sprintf("prove: %q is not an entry's sequence number", c.args[0])}
		}
	}
	return nil
}

func (c *auditCmd) validate(env *Env) []string {
	var problems []string
	if c.action == "keygen" {
		if c.origin == "" {
			problems = append(problems, "keygen: give the log's --origin, e.g. secure-agent.example/acme-prod")
		}
		return problems
	}
	if c.logKey != "" {
		if _, err := audit.NewVerifier(c.logKey); err != nil {
			problems = append(problems, "--log-key: "+err.Error())
		}
	}
	for _, k := range c.witnessKeys {
		if _, err := newCosignatureVerifier(k); err != nil {
			problems = append(problems, "--witness-key: "+err.Error())
		}
	}
	if c.file != "" && c.action != "verify" && c.action != "job" {
		problems = append(problems, "--file is for verify and job")
	}
	if c.file != "" && c.logKey == "" && c.action == "verify" {
		problems = append(problems, "verify --file: give the log's --log-key (a file does not say which key to trust)")
	}
	if c.file == "" || c.action == "job" {
		client, more := healthClient(env, c.rawURL, c.tokenFile)
		c.client = client
		if c.file == "" {
			problems = append(problems, more...)
		}
	}
	return problems
}

func (c *auditCmd) run(ctx context.Context, env *Env) error {
	switch c.action {
	case "keygen":
		return c.keygen(env)
	case "key":
		k, err := c.key(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, k.VerifierKey)
		return nil
	case "verify":
		return c.verify(ctx, env)
	case "prove":
		return c.prove(ctx, env)
	case "job":
		return c.job(ctx, env)
	case "export":
		r, err := c.export(ctx, 0)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(env.Stdout, r)
		return err
	default:
		return c.tail(ctx, env)
	}
}

func (c *auditCmd) keygen(env *Env) error {
	skey, vkey, err := audit.GenerateKey(c.origin)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	hk := make([]byte, 32)
	if _, err := rand.Read(hk); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "Store both secrets in the secret store the agent reads (never in a file you commit); "+
		"register the verifier key with the control plane and give it to whoever verifies the log.")
	return writeIndentedJSON(env, map[string]string{
		"audit-signing-key": skey, audit.DefaultHMACKey: hex.EncodeToString(hk), "verifier_key": vkey,
	})
}

type auditKey struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"`
}

func (c *auditCmd) key(ctx context.Context) (auditKey, error) {
	var k auditKey
	err := c.client.do(ctx, http.MethodGet, "/v1/audit/key", nil, "", &k, http.StatusOK)
	return k, err
}

// logVerifier is --log-key, else the key health announces (with a
// warning: that trusts the host).
func (c *auditCmd) logVerifier(ctx context.Context, env *Env) (note.Verifier, error) {
	k := c.logKey
	if k == "" {
		a, err := c.key(ctx)
		if err != nil {
			return nil, err
		}
		k = a.VerifierKey
		fmt.Fprintf(env.Stderr, "warning: checking with the key health announces (%s); a host that rewrote the log could announce "+
			"another: pass --log-key with the key registered at the control plane\n", k)
	}
	return audit.NewVerifier(k)
}

// export opens the exported log: --file, else health's GET /v1/audit/export.
func (c *auditCmd) export(ctx context.Context, from uint64) (io.ReadCloser, error) {
	if c.file != "" {
		f, err := os.Open(c.file)
		if err != nil {
			return nil, fmt.Errorf("open the exported log: %w", err)
		}
		return f, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.client.base+"/v1/audit/export?from="+strconv.FormatUint(from, 10), nil)
	if err != nil {
		return nil, err
	}
	if c.client.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.client.token)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		return nil, &unreachableError{base: c.client.base, service: "health", err: err}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, decodeAPIError(resp, data)
	}
	return resp.Body, nil
}

func (c *auditCmd) verify(ctx context.Context, env *Env) error {
	lk, err := c.logVerifier(ctx, env)
	if err != nil {
		return err
	}
	opts := audit.VerifyOptions{LogKey: lk, RequireCosigned: c.requireCosi,
		Progress: func(n uint64) { fmt.Fprintf(env.Stderr, "verified %d entries…\n", n) }}
	for _, k := range c.witnessKeys {
		v, _ := newCosignatureVerifier(k)
		opts.WitnessKeys = append(opts.WitnessKeys, v)
	}
	if c.witnessCP != "" {
		b, err := os.ReadFile(c.witnessCP)
		if err != nil {
			return fmt.Errorf("--witness-checkpoint: %w", err)
		}
		cp, err := audit.ParseCheckpoint(b, lk.Name(), lk, opts.WitnessKeys...)
		if err != nil {
			return fmt.Errorf("--witness-checkpoint %s: %w", c.witnessCP, err)
		}
		if len(opts.WitnessKeys) > 0 && len(cp.Cosigned) == 0 {
			return fmt.Errorf("--witness-checkpoint %s carries no cosignature by the --witness-key", c.witnessCP)
		}
		opts.Witness = &audit.WitnessView{Size: cp.Size, Root: cp.Root}
	}
	if c.tsaRoots != "" {
		pem, err := os.ReadFile(c.tsaRoots)
		if err != nil {
			return fmt.Errorf("--tsa-roots: %w", err)
		}
		opts.TSARoots = x509.NewCertPool()
		if !opts.TSARoots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--tsa-roots %s holds no PEM certificate", c.tsaRoots)
		}
	}
	opts.Origin = lk.Name()
	r, err := c.export(ctx, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := audit.Verify(r, opts)
	if err != nil {
		return err
	}
	if c.jsonOut {
		if err := writeJSONLine(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stdout, "audit log %s: %d entries (%d pruned to their hashes), %d checkpoints signed, %d cosigned",
			rep.Origin, rep.Entries+rep.Pruned, rep.Pruned, rep.Checkpoints, rep.Cosigned)
		if !rep.WitnessTime.IsZero() {
			fmt.Fprintf(env.Stdout, " (last cosigned: %d entries at %s)", rep.LastWitness, rep.WitnessTime.UTC().Format(time.RFC3339))
		}
		if rep.Timestamped > 0 {
			fmt.Fprintf(env.Stdout, ", %d time-stamped by a TSA (last at %s)", rep.Timestamped, rep.TSATime.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(env.Stdout)
	}
	if p, bad := rep.First(); bad {
		for _, q := range rep.Problems {
			fmt.Fprintln(env.Stderr, "problem: "+q.String())
		}
		return fmt.Errorf("the audit log does not verify: %s", p)
	}
	if !c.jsonOut {
		fmt.Fprintln(env.Stdout, "verified: every entry, checkpoint signature and cosignature, and the consistency between checkpoints")
	}
	return nil
}

type proofAnswer struct {
	Seq        uint64   `json:"seq"`
	Size       uint64   `json:"size"`
	Entry      string   `json:"entry"`
	Leaf       string   `json:"leaf"`
	Proof      []string `json:"proof"`
	Root       string   `json:"root"`
	Checkpoint string   `json:"checkpoint"`
}

func (c *auditCmd) prove(ctx context.Context, env *Env) error {
	lk, err := c.logVerifier(ctx, env)
	if err != nil {
		return err
	}
	path := "/v1/audit/proof?seq=" + c.args[0]
	if c.size > 0 {
		path += "&size=" + strconv.FormatUint(c.size, 10)
	}
	var a proofAnswer
	if err := c.client.do(ctx, http.MethodGet, path, nil, "", &a, http.StatusOK); err != nil {
		return err
	}
	var witnesses []note.Verifier
	for _, k := range c.witnessKeys {
		v, _ := newCosignatureVerifier(k)
		witnesses = append(witnesses, v)
	}
	cp, err := audit.ParseCheckpoint([]byte(a.Checkpoint), lk.Name(), lk, witnesses...)
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", a.Size, err)
	}
	leaf := tlog.RecordHash([]byte(a.Entry))
	if a.Entry == "" {
		if leaf, err = parseHash(a.Leaf); err != nil {
			return err
		}
	} else if _, err := audit.ParseEntry([]byte(a.Entry)); err != nil {
		return fmt.Errorf("entry %d: %w", a.Seq, err)
	}
	var proof []tlog.Hash
	for _, p := range a.Proof {
		h, err := parseHash(p)
		if err != nil {
			return err
		}
		proof = append(proof, h)
	}
	if err := audit.VerifyInclusion(proof, a.Seq, cp.Size, leaf, cp.Root); err != nil {
		return fmt.Errorf("entry %d is NOT proved: %w", a.Seq, err)
	}
	if a.Entry != "" {
		fmt.Fprintln(env.Stdout, a.Entry)
	} else {
		fmt.Fprintf(env.Stdout, "(entry %d was pruned; its leaf hash is %s)\n", a.Seq, a.Leaf)
	}
	who := "not cosigned by a witness"
	if len(cp.Cosigned) > 0 {
		who = fmt.Sprintf("cosigned by %s at %s", cp.Cosigned[0].Witness, cp.Cosigned[0].Time.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(env.Stdout, "proved: entry %d is in checkpoint %d of %s (root %s), %s\n", a.Seq, cp.Size, cp.Origin,
		base64.StdEncoding.EncodeToString(cp.Root[:]), who)
	return nil
}

func parseHash(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("%q is not a base64 SHA-256 hash", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h, nil
}

// entries reads every entry of the export from seq from on.
func (c *auditCmd) entries(ctx context.Context, from uint64) ([]audit.Entry, audit.Head, error) {
	r, err := c.export(ctx, from)
	if err != nil {
		return nil, audit.Head{}, err
	}
	defer r.Close()
	var out []audit.Entry
	var head audit.Head
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4*audit.MaxEntryBytes)
	for sc.Scan() {
		var l audit.ExportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, head, fmt.Errorf("the exported log has a line agentctl cannot read: %w", err)
		}
		switch {
		case l.Head != nil:
			head = *l.Head
		case l.Record != nil && !l.Record.Pruned:
			e, err := audit.ParseEntry([]byte(l.Record.Entry))
			if err != nil {
				return nil, head, fmt.Errorf("entry %d: %w (run agentctl audit verify)", l.Record.Seq, err)
			}
			out = append(out, e)
		}
	}
	return out, head, sc.Err()
}

// custodyOrder ranks a job's entries in the order of its chain of custody.
var custodyOrder = map[string]int{
	audit.ActionJobSubmitted: 0, audit.ActionJobLeased: 0, audit.ActionJobStarted: 1, audit.ActionSecretRead: 2,
	audit.ActionPartitionStatement: 3, audit.ActionPartitionStaged: 4, audit.ActionManifestSealed: 5,
	audit.ActionUploadAcknowledged: 6, audit.ActionJobFinished: 7, audit.ActionJobCancelled: 7,
}

func (c *auditCmd) job(ctx context.Context, env *Env) error {
	all, _, err := c.entries(ctx, 0)
	if err != nil {
		return err
	}
	var es []audit.Entry
	for _, e := range all {
		if e.JobID == c.args[0] {
			es = append(es, e)
		}
	}
	if len(es) == 0 {
		return fmt.Errorf("the audit log holds no entry of job %s (is the id right, or were its entries pruned?)", c.args[0])
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := custodyOrder[es[i].Action], custodyOrder[es[j].Action]
		if a != b {
			return a < b
		}
		return es[i].Seq < es[j].Seq
	})
	if c.jsonOut {
		for _, e := range es {
			if err := writeJSONLine(env.Stdout, e); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "chain of custody of job %s (%d entries):\n", c.args[0], len(es))
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tAPP\tACTION\tTARGET\tOUTCOME\tDETAILS")
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time, e.App, e.Action, e.Target, e.Outcome, details(e.Details))
	}
	return tw.Flush()
}

func details(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + d[k])
	}
	return b.String()
}

func (c *auditCmd) tail(ctx context.Context, env *Env) error {
	var next uint64
	first := true
	for {
		es, head, err := c.entries(ctx, next)
		if err != nil {
			return err
		}
		if first && c.last > 0 && len(es) > c.last {
			es = es[len(es)-c.last:]
		}
		first = false
		for _, e := range es {
			if c.jsonOut {
				b, _ := e.Canonical()
				fmt.Fprintln(env.Stdout, string(b))
			} else {
				fmt.Fprintf(env.Stdout, "%d %s %s %s %s %s %s\n", e.Seq, e.Time, e.App, e.Action, e.Target, e.Outcome, details(e.Details))
			}
		}
		next = head.Size
		if !c.follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// newCosignatureVerifier reads a witness key: a C2SP cosignature/v1 key,
// or a plain Ed25519 note key used for cosignatures.
func newCosignatureVerifier(k string) (note.Verifier, error) {
	return audit.NewCosignatureVerifier(strings.TrimSpace(k))
}
