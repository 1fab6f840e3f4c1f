#!/usr/bin/env bash
# Builds a real kube-apiserver (k8s.io/kubernetes, pinned in apiserver/) and
# etcd (go.etcd.io/etcd/server/v3, pinned in etcd/) from the Go module proxy
# into $1 (bin/), for this machine only, for the tests that need an API
# server (deploy/k8s/internal/kubeenv). Static (CGO_ENABLED=0), -trimpath,
# stripped, unoptimized and without debug information (-gcflags=all=-N -l
# -dwarf=false: about a quarter less compile time; they only serve tests).
# The two builds run in parallel. `make test-chart` compiles deploy/k8s with the same flags, and deploy/k8s pins
# the modules both use at the same versions (apiserver/go.mod), so its
# tests reuse kube-apiserver's compiled k8s.io packages instead of compiling
# them again.
#
# Each binary is cached outside the checkout, keyed by its module's go.mod
# and go.sum, this script and the Go version, so a fresh clone on a machine
# that built them once gets them in seconds. Set SA_TOOLS_CACHE to move the
# cache (as for deploy/vulncheck: the binaries go to $SA_TOOLS_CACHE/kube-tools).
set -euo pipefail
# The Go release the Makefile uses (see GOTOOLCHAIN there) when run on its own.
if [ "${GOTOOLCHAIN:-local}" = local ]; then export GOTOOLCHAIN=go1.27.3; fi
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
root=${SA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secure-agent}/kube-tools
gover=$(go version)

# tool → its pinned module folder, main package and the module whose version it reports.
declare -A dir=([kube-apiserver]=apiserver [etcd]=etcd)
declare -A pkg=([kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver [etcd]=go.etcd.io/etcd/server/v3)
declare -A mod=([kube-apiserver]=k8s.io/kubernetes [etcd]=go.etcd.io/etcd/server/v3)

cache_of() { # tool → its cache folder
  local key
  key=$( (echo "$1"; cat "$here/${dir[$1]}/go.mod" "$here/${dir[$1]}/go.sum" "$here/build.sh"; echo "$gover") | sha256sum | cut -c1-16)
  echo "$root/$key"
}

version_of() { (cd "$here/${dir[$1]}" && go list -m -f '{{.Version}}' "${mod[$1]}"); }

# check TOOL BINARY VERSION: the binary runs and reports the pinned version.
check() {
  local got
  case $1 in
    kube-apiserver)
      got=$("$2" --version 2>&1) || { echo "build.sh: $2 --version failed: $got" >&2; return 1; }
      [ "$got" = "Kubernetes $3" ] || { echo "build.sh: $2 --version says '$got', want 'Kubernetes $3'" >&2; return 1; } ;;
    etcd)
      got=$("$2" --version 2>&1) || { echo "build.sh: $2 --version failed: $got" >&2; return 1; }
      grep -qx "etcd Version: ${3#v}" <<<"$got" || { echo "build.sh: $2 --version says '$got', want 'etcd Version: ${3#v}'" >&2; return 1; } ;;
  esac
}

build_one() { # tool: builds it into its cache folder unless it is there
  local tool=$1 cache ver tmp ldflags=(-s -w) start
  cache=$(cache_of "$tool")
  [ -x "$cache/$tool" ] && return 0
  start=$(date +%s)
  ver=$(version_of "$tool") && [ -n "$ver" ] || { echo "build.sh: no version of ${mod[$tool]} in ${dir[$tool]}/go.mod" >&2; return 1; }
  echo "==> building $tool $ver from the Go module proxy (first time on this machine: about 20 CPU-minutes for both, mostly kube-apiserver)"
  if [ "$tool" = kube-apiserver ]; then
    # What kubernetes' hack/lib/version.sh stamps: without it the binary says
    # v0.0.0-master and its compatibility version checks misbehave.
    local major=${ver#v} minor
    minor=${major#*.}; minor=${minor%%.*}; major=${major%%.*}
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=(-X "$p.gitVersion=$ver" -X "$p.gitMajor=$major" -X "$p.gitMinor=$minor" -X "$p.gitTreeState=archive")
    done
  fi
  mkdir -p "$root"
  tmp="$cache.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$here/${dir[$tool]}" && go build -trimpath -gcflags="all=-N -l -dwarf=false" -ldflags "${ldflags[*]}" -o "$tmp/$tool" "${pkg[$tool]}") \
    || { rm -rf "$tmp"; echo "build.sh: go build ${pkg[$tool]} failed; see above" >&2; return 1; }
  check "$tool" "$tmp/$tool" "$ver" || { rm -rf "$tmp"; return 1; }
  # Publish atomically: a rename. If another build published first, keep its copy.
  if ! mv -T "$tmp" "$cache" 2>/dev/null; then
    if [ -x "$cache/$tool" ]; then rm -rf "$tmp"; else rm -rf "$cache" && mv -T "$tmp" "$cache"; fi
  fi
  echo "==> $tool $ver built in $(( $(date +%s) - start ))s (cached in $cache)"
}

tools=(kube-apiserver etcd)
declare -A job
for t in "${tools[@]}"; do
  ( build_one "$t" 2>&1 | sed -u "s/^/[$t] /" ) &
  job[$t]=$!
done
failed=()
for t in "${tools[@]}"; do wait "${job[$t]}" || failed+=("$t"); done
if [ ${#failed[@]} -gt 0 ]; then
  echo "build.sh: building ${failed[*]} failed; see the [${failed[0]}] lines above" >&2
  exit 1
fi
for t in "${tools[@]}"; do
  # Copy, not link: a rebuild of the cache must never change a running test's binary.
  c=$(cache_of "$t")
  cp -f "$c/$t" "$out/$t.new" && mv -f "$out/$t.new" "$out/$t"
done
