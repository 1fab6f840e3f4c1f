package postgres

import (
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// dialTargets are every address pgconn may dial for cfg — the host and
// each fallback (several hosts, and sslmode=prefer's plain retry) — as
// pgconn itself derives them (pgconn.NetworkAddress).
func dialTargets(cfg *pgconn.Config) []connector.Target {
	var out []connector.Target
	seen := map[connector.Target]bool{}
	add := func(host string, port uint16) {
		network, addr := pgconn.NetworkAddress(host, port)
		t := connector.Target{Network: network, Address: addr}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	add(cfg.Host, cfg.Port)
	for _, f := range cfg.Fallbacks {
		add(f.Host, f.Port)
	}
	return out
}
