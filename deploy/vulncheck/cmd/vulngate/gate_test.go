package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tools builds (or finds in the cache) govulncheck and the database.
var tools = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("../../build.sh").Output()
	return strings.TrimSpace(string(out)), err
})

func runGate(t *testing.T, allowlist string, today string) (int, string) {
	t.Helper()
	dir, err := tools()
	if err != nil {
		t.Fatalf("build.sh: %v", err)
	}
	al := filepath.Join(t.TempDir(), "allowlist.yaml")
	if err := os.WriteFile(al, []byte(allowlist), 0o644); err != nil {
		t.Fatal(err)
	}
	day, _ := time.Parse(time.DateOnly, today)
	fixture, _ := filepath.Abs("../../testdata/vulnerable")
	var stdout, stderr bytes.Buffer
	code := gate(context.Background(), gateConfig{
		govulncheck: filepath.Join(dir, "govulncheck"), db: filepath.Join(dir, "db"), allowlist: al,
		modules: []string{fixture}, parallel: 1, today: day,
	}, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func TestGateFailsOnAReachableVulnerability(t *testing.T) {
	code, out := runGate(t, "allow: []\n", "2026-12-01")
	if code != exitVulnerable || !strings.Contains(out, "VULNERABLE") || !strings.Contains(out, "GO-2022-1059") ||
		!strings.Contains(out, "language.ParseAcceptLanguage") || !strings.Contains(out, "database modified 2026-11-05") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestGateAllowsAReviewedException(t *testing.T) {
	al := "allow:\n  - id: GO-2022-1059\n    reason: the fixture calls it on purpose to prove the gate fails\n    expires: 2027-01-31\n"
	code, out := runGate(t, al, "2026-12-01")
	if code != exitOK || !strings.Contains(out, "allowed    ") || !strings.Contains(out, "reviewed   GO-2022-1059") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out = runGate(t, al, "2027-02-01")
	if code != exitVulnerable || !strings.Contains(out, "EXPIRED") {
		t.Fatalf("after expiry: exit %d:\n%s", code, out)
	}
	al = "allow:\n  - id: GO-2022-1059\n    reason: only for another target here\n    expires: 2027-01-31\n    targets: [daprd]\n"
	if code, out := runGate(t, al, "2026-12-01"); code != exitVulnerable {
		t.Fatalf("an entry for another target allowed it: exit %d:\n%s", code, out)
	}
}

func TestGateRefusesAMalformedAllowlist(t *testing.T) {
	for _, al := range []string{
		"allow:\n  - id: GO-2022-1059\n    expires: 2027-01-31\n",                  // no reason
		"allow:\n  - id: GO-2022-1059\n    reason: a reason that is long enough\n", // no expiry
		"allow:\n  - id: CVE-2022-32149\n    reason: a reason that is long enough\n    expires: 2027-01-31\n",
		"allow:\n  - id: GO-2022-1059\n    reason: a reason that is long enough\n    expires: 2027-01-31\n    until: x\n",
	} {
		if code, out := runGate(t, al, "2026-12-01"); code != exitSetup {
			t.Fatalf("%q: exit %d:\n%s", al, code, out)
		}
	}
}
