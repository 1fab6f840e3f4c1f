package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"
)

type versionCmd struct{}

func (versionCmd) name() string           { return "version" }
func (versionCmd) synopsis() string       { return "print agentctl's version" }
func (versionCmd) define(*flag.FlagSet)   {}
func (versionCmd) validate(*Env) []string { return nil }
func (versionCmd) run(_ context.Context, env *Env) error {
	_, err := fmt.Fprintf(env.Stdout, "agentctl %s (%s %s/%s)\n", env.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
