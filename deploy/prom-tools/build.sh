#!/usr/bin/env bash
# Builds a real Prometheus server (`prometheus`) and `promtool` from
# github.com/prometheus/prometheus, pinned in go.mod here, from the Go module
# proxy into $1 (bin/), for this machine only, for tests that need a real
# Prometheus: its query, rules and alerts API, or promtool's checks of
# rules and configs. Static (CGO_ENABLED=0), -trimpath, stripped,
# unoptimized and without debug information (-gcflags=all=-N -l
# -dwarf=false, as deploy/kube-tools: they only serve tests). Tagged
# remove_all_sd: no service discovery but static_configs, which drops the
# cloud SDKs (AWS, Azure, GCE, Kubernetes...) from the build. Without
# upstream's builtinassets tag the server has no web UI; its HTTP API
# (/api/v1/*, /-/ready) is all there. Both commands are built by one go
# build, so the packages they share are compiled once.
#
# The version is stamped as upstream's release does (prometheus/common's
# version package): Prometheus 3.XX.Y is the Go module version v0.3XX.Y,
# and both binaries must report that release, which must also be the
# module's own VERSION file. Nothing in the stamp depends on the clock
# (the build date is the module version's date on the proxy), so the build
# is reproducible.
#
# The binaries are cached outside the checkout, keyed by go.mod, go.sum,
# this script and the Go version, so a fresh clone on a machine that built
# them once gets them in seconds. Set SA_TOOLS_CACHE to move the cache (as
# for deploy/kube-tools: the binaries go to $SA_TOOLS_CACHE/prom-tools).
set -euo pipefail
# The Go release the Makefile uses (see GOTOOLCHAIN there) when run on its own.
if [ "${GOTOOLCHAIN:-local}" = local ]; then export GOTOOLCHAIN=go1.27.3; fi
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
root=${SA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secure-agent}/prom-tools
module=github.com/prometheus/prometheus
tools=(prometheus promtool)

key=$( (cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go version) | sha256sum | cut -c1-16)
cache=$root/$key

# release_of MODULE_VERSION → the Prometheus release it is (v0.316.0 → 3.16.0).
release_of() {
  [[ $1 =~ ^v0\.([1-9])([0-9][0-9])\.([0-9]+)$ ]] \
    || { echo "build.sh: $module $1 is not of the form v0.3XX.Y (Prometheus 3.XX.Y); see how upstream numbers its Go module now" >&2; return 1; }
  echo "${BASH_REMATCH[1]}.$((10#${BASH_REMATCH[2]})).${BASH_REMATCH[3]}"
}

# check DIR RELEASE: both binaries in DIR run and report RELEASE, which is
# the module's own VERSION; promtool accepts a config with a rule; the
# server starts on a loopback port, gets ready, has loaded the rule and
# answers a query.
check() {
  local dir=$1 release=$2 tool got want upstream work pid addr i resp rc=0
  for tool in "${tools[@]}"; do
    got=$("$dir/$tool" --version 2>&1) || { echo "build.sh: $dir/$tool --version failed: $got" >&2; return 1; }
    want="$tool, version $release "
    [[ ${got%%$'\n'*} == "$want"* ]] || { echo "build.sh: $dir/$tool --version says '${got%%$'\n'*}', want '$want(...)'" >&2; return 1; }
  done
  upstream=$(cat "$(cd "$here" && go list -m -f '{{.Dir}}' "$module")/VERSION") || { echo "build.sh: cannot read $module's VERSION file" >&2; return 1; }
  [ "$upstream" = "$release" ] || { echo "build.sh: $module's VERSION file says $upstream, but its module version maps to $release; fix release_of" >&2; return 1; }

  work=$(mktemp -d)
  cat >"$work/prometheus.yml" <<'EOF'
global:
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs: []
EOF
  cat >"$work/rules.yml" <<'EOF'
groups:
  - name: check
    rules:
      - record: build_check
        expr: vector(42)
EOF
  got=$("$dir/promtool" check config "$work/prometheus.yml" 2>&1) \
    || { echo "build.sh: promtool check config failed on a valid config: $got" >&2; rm -rf "$work"; return 1; }

  : >"$work/log"
  "$dir/prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address=127.0.0.1:0 >"$work/log" 2>&1 &
  pid=$!
  # It logs the port it got (exporter-toolkit's "Listening on"), then
  # answers /-/ready with 200 once its storage and rules are loaded.
  resp=
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    addr=$(sed -n 's/.*msg="Listening on" .*address=\([0-9.:]*\).*/\1/p' "$work/log")
    if [ -n "$addr" ] && resp=$(http_get "$addr" /-/ready) && [[ $resp == HTTP/1.[01]" 200 "* ]]; then break; fi
    resp=
    sleep 0.1
  done
  if [ -z "$resp" ]; then
    echo "build.sh: prometheus did not get ready within 10s; its log:" >&2; rc=1
  else
    resp=$(http_get "$addr" /api/v1/rules) || true
    [[ $resp == *'"status":"success"'*'"name":"build_check"'* ]] \
      || { echo "build.sh: prometheus at $addr does not list the rule build_check: $resp; its log:" >&2; rc=1; }
    resp=$(http_get "$addr" '/api/v1/query?query=vector(42)') || true
    [[ $rc != 0 || $resp == *'"status":"success"'*'"42"'* ]] \
      || { echo "build.sh: prometheus at $addr answered the query vector(42) with: $resp; its log:" >&2; rc=1; }
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$rc" = 0 ] || sed 's/^/    /' "$work/log" >&2
  rm -rf "$work"
  return "$rc"
}

# http_get HOST:PORT PATH: the whole HTTP/1.0 response (bash's /dev/tcp:
# no curl needed).
http_get() {
  local fd
  { exec {fd}<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&"$fd"
  tr -d '\r' <&"$fd"
  exec {fd}>&-
}

if [ ! -x "$cache/prometheus" ] || [ ! -x "$cache/promtool" ]; then
  start=$(date +%s)
  ver=$(cd "$here" && go list -m -f '{{.Version}}' "$module") && [ -n "$ver" ] || { echo "build.sh: no version of $module in go.mod" >&2; exit 1; }
  release=$(release_of "$ver")
  echo "==> building prometheus/promtool $release ($module $ver) from the Go module proxy (first time on this machine: about 5 CPU-minutes)"
  # What upstream's promu stamps, minus the clock and the git checkout: the
  # proxy's zip has no commit, so the revision is the module version, and
  # the date is that version's on the proxy.
  date=$(cd "$here" && go list -m -f '{{with .Time}}{{.UTC.Format "20060102-15:04:05"}}{{end}}' "$module")
  v=github.com/prometheus/common/version
  ldflags=(-s -w -X "$v.Version=$release" -X "$v.Revision=$ver" -X "$v.Branch=module-proxy"
    -X "$v.BuildUser=secure-agent" -X "$v.BuildDate=${date:-unknown}")
  mkdir -p "$root"
  tmp="$cache.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$here" && go build -trimpath -tags remove_all_sd -gcflags="all=-N -l -dwarf=false" -ldflags "${ldflags[*]}" \
    -o "$tmp/" "$module/cmd/prometheus" "$module/cmd/promtool") \
    || { rm -rf "$tmp"; echo "build.sh: go build of $module/cmd/prometheus and cmd/promtool failed; see above" >&2; exit 1; }
  check "$tmp" "$release" || { rm -rf "$tmp"; echo "build.sh: the built prometheus/promtool failed their check (above); nothing was cached" >&2; exit 1; }
  # Publish atomically: a rename. If another build published first, keep its copy.
  if ! mv -T "$tmp" "$cache" 2>/dev/null; then
    if [ -x "$cache/prometheus" ] && [ -x "$cache/promtool" ]; then rm -rf "$tmp"; else rm -rf "$cache" && mv -T "$tmp" "$cache"; fi
  fi
  echo "==> prometheus/promtool $release built in $(( $(date +%s) - start ))s (cached in $cache)"
fi
for t in "${tools[@]}"; do
  # Copy, not link: a rebuild of the cache must never change a running test's binary.
  cp -f "$cache/$t" "$out/$t.new" && mv -f "$out/$t.new" "$out/$t"
done
