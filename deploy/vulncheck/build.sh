#!/usr/bin/env bash
# Builds the vulnerability gate's tools, cached outside the checkout by
# content: govulncheck (golang.org/x/vuln, pinned in go.mod), vulngate, and
# the offline database made from the pinned golang.org/x/vulndb module
# (vulndb.version: version and go.sum hash, checked after the download).
# Prints the cache directory: govulncheck, vulngate, db/.
set -euo pipefail
# The Go release the Makefile uses (see GOTOOLCHAIN there) when run on its own.
if [ "${GOTOOLCHAIN:-local}" = local ]; then export GOTOOLCHAIN=go1.27.3; fi
here=$(cd "$(dirname "$0")" && pwd)
export GOWORK=off GOFLAGS=-buildvcs=false
key=$( (cat "$here/go.mod" "$here/go.sum" "$here/build.sh" "$here/vulndb.version" "$here"/cmd/*/*.go; go version) | sha256sum | cut -c1-16)
cache=${SA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secure-agent}/vulncheck/$key
if [ ! -x "$cache/govulncheck" ] || [ ! -x "$cache/vulngate" ] || [ ! -f "$cache/db/index/db.json" ]; then
  start=$(date +%s)
  tmp="$cache.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  cd "$here"
  echo "==> building govulncheck, vulngate and the offline vulnerability database" >&2
  go build -trimpath -o "$tmp/govulncheck" golang.org/x/vuln/cmd/govulncheck
  go build -trimpath -o "$tmp/vulngate" ./cmd/vulngate
  go build -trimpath -o "$tmp/vulndb" ./cmd/vulndb
  read -r mod ver sum < "$here/vulndb.version"
  json=$(go mod download -json "$mod@$ver") || { echo "build.sh: downloading $mod@$ver failed: $json" >&2; exit 1; }
  dir=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  got=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
  [ "$got" = "$sum" ] || { echo "build.sh: $mod@$ver has hash $got, vulndb.version pins $sum" >&2; exit 1; }
  [ -d "$dir/data/osv" ] || { echo "build.sh: $mod@$ver has no data/osv directory ($dir)" >&2; exit 1; }
  "$tmp/vulndb" -src "$dir" -out "$tmp/db" -version "$ver" >&2
  "$tmp/govulncheck" -version >/dev/null || { echo "build.sh: the built govulncheck does not run" >&2; exit 1; }
  rm -f "$tmp/vulndb"
  rm -rf "$cache" && mv "$tmp" "$cache"
  echo "==> vulnerability gate tools built in $(( $(date +%s) - start ))s (cached in $cache)" >&2
fi
echo "$cache"
