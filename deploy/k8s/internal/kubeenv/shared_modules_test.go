package kubeenv

import (
	"os/exec"
	"strings"
	"testing"
)

// The modules kube-apiserver (deploy/kube-tools/apiserver) and this module
// both build must be at the same versions in both: then `make test-chart`,
// which compiles this module with the kube-tools' flags, reuses the packages
// building kube-apiserver compiled, and a cold `make test` compiles them once.
// A drift costs minutes of CI, not correctness, but nothing else would see it.
func TestSharedModulesMatchKubeTools(t *testing.T) {
	ours := buildModules(t, ".", "-test", "../../...")
	theirs := buildModules(t, "../../../kube-tools/apiserver", "k8s.io/kubernetes/cmd/kube-apiserver")
	shared := 0
	for path, v := range ours {
		w, ok := theirs[path]
		if !ok {
			continue
		}
		shared++
		if v != w {
			t.Errorf("module %s: deploy/k8s builds %s, deploy/kube-tools/apiserver builds %s; require the higher one in the other go.mod (go get %s@<version>, GOWORK=off)", path, v, w, path)
		}
	}
	if shared < 20 {
		t.Fatalf("only %d modules shared with kube-apiserver; is deploy/kube-tools/apiserver where this test looks?", shared)
	}
}

// buildModules lists the modules (after replaces) whose packages the
// packages in args depend on, run with `go list` in dir.
func buildModules(t *testing.T, dir string, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f",
		"{{with .Module}}{{if .Replace}}{{.Replace.Path}} {{.Replace.Version}}{{else}}{{.Path}} {{.Version}}{{end}}{{end}}"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("go list in %s: %s", dir, msg)
	}
	mods := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, version, ok := strings.Cut(line, " ")
		if ok && version != "" { // the main module has no version
			mods[path] = version
		}
	}
	return mods
}
