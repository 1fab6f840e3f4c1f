package dbobs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
	"github.com/secure-agent/secure-agent/services/extractor/connector/mysql"
	"github.com/secure-agent/secure-agent/services/extractor/connector/postgres"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

// docs/connectors.md lists every connector's statements with their span
// names, exactly as the code declares them: the statement label of the
// dashboards and alerts is read from that table.
func TestStatementTableMatchesTheCode(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "connectors.md"))
	require.NoError(t, err)
	var documented []string
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 {
			continue
		}
		kind := strings.TrimSpace(cells[1])
		if kind != postgres.Kind && kind != mysql.Kind && kind != sqlite.Kind {
			continue
		}
		documented = append(documented, kind+" "+strings.Trim(strings.TrimSpace(cells[2]), "`")+" "+
			strings.Trim(strings.TrimSpace(cells[3]), "`"))
	}
	var declared []string
	for kind, sts := range map[string][]dbobs.Statement{
		postgres.Kind: postgres.Statements(), mysql.Kind: mysql.Statements(), sqlite.Kind: sqlite.Statements(),
	} {
		for _, st := range sts {
			declared = append(declared, kind+" "+st.Name+" "+st.Summary)
		}
	}
	require.ElementsMatch(t, declared, documented)
}
