package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A start that times out quotes the end of each waiting app's logs.
func TestLastLines(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 5000 { // far more than the 16 KiB read from the end
		fmt.Fprintf(&b, "line %d\n", i)
	}
	b.WriteString(strings.Repeat("x", 1000) + "\n")
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := lastLines(path, 3)
	want := []string{"line 4998", "line 4999", strings.Repeat("x", 400) + "…"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lastLines = %q, want %q", got, want)
	}
	if got := lastLines(filepath.Join(dir, "missing.log"), 3); got != nil {
		t.Fatalf("a missing log gave %q", got)
	}
}
