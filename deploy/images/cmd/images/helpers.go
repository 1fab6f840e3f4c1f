package main

import (
	"encoding/json"
	"runtime/debug"
)

func jsonRaw(v any) (json.RawMessage, error) { return json.Marshal(v) }

// caBundleVersion is the pinned x509roots/fallback module version the CA
// bundle comes from.
func caBundleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "golang.org/x/crypto/x509roots/fallback" {
				return d.Version
			}
		}
	}
	return "unknown"
}
