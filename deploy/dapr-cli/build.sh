#!/usr/bin/env bash
# Builds the Dapr CLI (`dapr`, github.com/dapr/cli pinned in go.mod) into
# $1 (bin/), for people and tests that run deploy/local/dapr.yaml with
# `dapr run -f`, and links $1/.dapr/bin/daprd to $1/daprd, where the CLI
# looks for the runtime when DAPR_RUNTIME_PATH=$1. The CLI is not a
# release download here: it is built from the Go module proxy like the
# runtime (docs/adr/0002). go.mod also requires components-contrib v1.16.5
# because the proxy does not serve v1.16.3, the version the CLI's
# dapr/dapr v1.16.2 asks for.
#
# This module is outside go.work on purpose: the CLI's dependencies (docker,
# helm, kubernetes clients) must not take part in the services' version
# selection. Builds are cached outside the checkout, keyed by the module's
# content and the Go version. Set SA_TOOLS_CACHE to move the cache.
set -euo pipefail
# The Go release the Makefile uses (see GOTOOLCHAIN there) when run on its own.
if [ "${GOTOOLCHAIN:-local}" = local ]; then export GOTOOLCHAIN=go1.27.3; fi
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0

key=$( (cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go version) | sha256sum | cut -c1-16)
cache=${SA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secure-agent}/dapr-cli/$key
version=$(cd "$here" && go list -m -f '{{.Version}}' github.com/dapr/cli | sed 's/^v//')

if [ ! -x "$cache/dapr" ]; then
  echo "==> building the Dapr CLI $version from the Go module proxy (first time on this machine: a few minutes)"
  start=$(date +%s)
  tmp="$cache.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  cd "$here"
  # What the CLI's own Makefile injects (main.version is what `dapr version` prints).
  # Unoptimized (about a fifth less compile time; a CLI does not need the
  # optimizer) and static; `make test-unit` tests this module with the same
  # flags, so the test reuses the packages compiled here.
  go build -trimpath -gcflags="all=-N -l -dwarf=false" -ldflags "-s -w -X main.version=$version -X main.apiVersion=1.0 -X github.com/dapr/cli/pkg/standalone.gitversion=v$version" \
    -o "$tmp/dapr" github.com/dapr/cli
  # `dapr version` must name the pinned release, or the ldflags above missed.
  got=$(HOME="$tmp" DAPR_RUNTIME_PATH="$tmp" "$tmp/dapr" version) || { echo "build.sh: the built dapr does not run: $got" >&2; exit 1; }
  grep -q "^CLI version: $version *$" <<<"$got" || { echo "build.sh: the built dapr reports $got, not CLI version $version" >&2; exit 1; }
  rm -rf "$cache" && mv "$tmp" "$cache"
  echo "==> Dapr CLI built in $(( $(date +%s) - start ))s (cached in $cache)"
fi
# Copy, not link: a rebuild of the cache must never change a running binary.
cp -f "$cache/dapr" "$out/dapr.new" && mv -f "$out/dapr.new" "$out/dapr"
# The CLI runs $DAPR_RUNTIME_PATH/.dapr/bin/daprd: with DAPR_RUNTIME_PATH=$out
# it runs the daprd `make tools` puts beside it (deploy/local/dapr.yaml).
mkdir -p "$out/.dapr/bin" && ln -sfn ../../daprd "$out/.dapr/bin/daprd"
