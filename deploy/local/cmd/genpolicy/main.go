// Command genpolicy rewrites the local stack's Dapr Configurations and
// pub/sub topic scopes from charts/secure-agent/files/policy.yaml
// (`make generate`). Run from the repository root.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/secure-agent/secure-agent/deploy/local/policy"
)

func main() {
	if err := run("."); err != nil {
		fmt.Fprintln(os.Stderr, "genpolicy:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	p, err := policy.Load(root)
	if err != nil {
		return err
	}
	files, err := p.Files(root)
	if err != nil {
		return err
	}
	for rel, b := range files {
		path := filepath.Join(root, rel)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", rel)
	}
	return nil
}
