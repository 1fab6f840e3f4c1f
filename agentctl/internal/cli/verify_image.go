package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/secure-agent/secure-agent/libs/supplychain"
)

// verifyImageCmd checks, offline, an image built by `make images`: its
// content against its digests, and the signature, SBOM and provenance
// attached to it, each signed by the operator's key and made for this image.
type verifyImageCmd struct {
	ref     string
	keyFile string
	jsonOut bool

	src supplychain.Source
	key *supplychain.Key
}

func (c *verifyImageCmd) name() string { return "verify-image" }
func (c *verifyImageCmd) synopsis() string {
	return "check an image's content, signature, SBOM and provenance offline with your public key"
}
func (c *verifyImageCmd) argsUsage() string { return "REF" }

func (c *verifyImageCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.keyFile, "key", "", "`FILE`: the PEM public key the images were signed for (openssl pkey -pubout)")
	fs.BoolVar(&c.jsonOut, "json", false, "print the report as JSON")
}

func (c *verifyImageCmd) setArgs(args []string) []string {
	if len(args) != 1 {
		return []string{"give one image: oci:DIR:NAME (an OCI layout, e.g. oci:dist/oci:orchestrator) or a registry reference (host/repo:tag)"}
	}
	c.ref = args[0]
	return nil
}

func (c *verifyImageCmd) validate(*Env) []string {
	var problems []string
	if c.ref != "" {
		src, err := supplychain.ParseRef(c.ref)
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.src = src
	}
	if c.keyFile == "" {
		return append(problems, "--key is required: the public key (PEM) whose private half signed the images")
	}
	b, err := os.ReadFile(c.keyFile)
	if err != nil {
		return append(problems, fmt.Sprintf("--key: %v", err))
	}
	k, err := supplychain.ParsePublicKey(b)
	if err != nil {
		return append(problems, fmt.Sprintf("--key %s: %v", c.keyFile, err))
	}
	c.key = k
	return problems
}

func (c *verifyImageCmd) run(ctx context.Context, env *Env) error {
	r := supplychain.Verify(ctx, c.src, c.key)
	if c.jsonOut {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		out := struct {
			Source string              `json:"source"`
			Digest string              `json:"digest,omitempty"`
			OK     bool                `json:"ok"`
			Checks []supplychain.Check `json:"checks"`
		}{r.Source, "", r.OK(), r.Checks}
		if r.Digest.Hex != "" {
			out.Digest = r.Digest.String()
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stdout, "%s\n", printable(r.Source))
		if r.Digest.Hex != "" {
			fmt.Fprintf(env.Stdout, "  digest      %s\n", r.Digest)
		}
		for _, ch := range r.Checks {
			status := "ok"
			if !ch.OK {
				status = "FAILED"
			}
			fmt.Fprintf(env.Stdout, "  %-11s %-6s %s\n", strings.ToLower(ch.Name), status, printable(ch.Detail))
		}
	}
	if !r.OK() {
		var failed []string
		for _, ch := range r.Checks {
			if !ch.OK {
				failed = append(failed, strings.ToLower(ch.Name))
			}
		}
		return fmt.Errorf("%s does not verify: %s failed", printable(r.Source), strings.Join(failed, ", "))
	}
	return nil
}
