#!/usr/bin/env bash
# Builds the Dapr runtime (daprd with JetStream, placement, scheduler, sentry)
# and nats-server from the pinned module in this folder into $1 (bin/), for
# this machine or for the GOOS/GOARCH in $2 (the images' other platforms;
# nats-server is only built for this machine). The binaries are static
# (CGO_ENABLED=0), carry their time zones (timetzdata) and are reproducible:
# the patched module copies are named by relative paths, so the build info
# does not depend on where the cache lives.
#
# Builds are cached outside the checkout, keyed by the module's content and
# the Go version, so a fresh clone on a machine that built them once gets
# them in seconds. Set SA_TOOLS_CACHE to move the cache.
set -euo pipefail
# The Go release the Makefile uses (see GOTOOLCHAIN there) when run on its own.
if [ "${GOTOOLCHAIN:-local}" = local ]; then export GOTOOLCHAIN=go1.27.3; fi
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR [GOOS/GOARCH]}
host=$(go env GOOS)/$(go env GOARCH)
target=${2:-$host}
case $target in linux/amd64|linux/arm64) ;; *) echo "build.sh: platform $target is not one the images are built for (linux/amd64, linux/arm64)" >&2; exit 1;; esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
bins=(daprd placement scheduler sentry)
[ "$target" = "$host" ] && bins+=(nats-server)

key=$( (cat "$here/go.mod" "$here/go.sum" "$here/cmd/daprd/main.go" "$here/build.sh" "$here"/patches/* "$here"/internal/*/*; go version; echo "$target") | sha256sum | cut -c1-16)
cache=${SA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secure-agent/dapr-runtime}/$key

dapr_version() { (cd "$here" && GOWORK=off go list -m -f '{{.Version}}' github.com/dapr/dapr | sed 's/^v//'); }

# Dapr 1.16.5's control-plane healthz server listens on ":port" whatever
# --healthz-listen-address says, and sentry/placement/scheduler start their
# metrics server without the listen address. On a laptop that exposes them
# on every interface. We build from a copy of the dapr module (taken from
# the module cache at build time; nothing upstream is committed) with a
# one-line change in each of two files, so both default to 127.0.0.1. Each
# edit is checked, so a version bump that moves the code fails here instead
# of silently listening everywhere. See docs/adr/0002.
prepare_sources() { # workdir → prints the tools-module copy to build in
  local work=$1 src
  # On a fresh machine the modules are not in the cache yet and `go list -m`
  # answers an empty Dir: download them first.
  (cd "$here" && GOWORK=off go mod download github.com/dapr/dapr github.com/dapr/durabletask-go github.com/dapr/components-contrib modernc.org/sqlite go.etcd.io/etcd/server/v3) || exit 1
  src=$(cd "$here" && GOWORK=off go list -m -f '{{.Dir}}' github.com/dapr/dapr)
  [ -n "$src" ] && [ -d "$src" ] || { echo "build.sh: the github.com/dapr/dapr module is not in the module cache" >&2; exit 1; }
  mkdir -p "$work"
  cp -r "$src" "$work/dapr" && chmod -R u+w "$work/dapr"
  sed -i 's|net.Listen("tcp", fmt.Sprintf(":%d", s.port))|net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))|' \
    "$work/dapr/pkg/healthz/server/server.go"
  sed -i 's|addr := fmt.Sprintf("%s:%d", e.listenAddress, port)|if e.listenAddress == "" { e.listenAddress = "127.0.0.1" }; addr := fmt.Sprintf("%s:%d", e.listenAddress, port)|' \
    "$work/dapr/pkg/metrics/exporter.go"
  grep -q 'fmt.Sprintf("127.0.0.1:%d", s.port)' "$work/dapr/pkg/healthz/server/server.go" || { echo "build.sh: healthz patch did not apply to $src" >&2; exit 1; }
  grep -q 'e.listenAddress = "127.0.0.1"' "$work/dapr/pkg/metrics/exporter.go" || { echo "build.sh: metrics patch did not apply to $src" >&2; exit 1; }
  # daprd registers our component set (cmd/daprd/components.go), not
  # upstream's: upstream's registrations are cmd/daprd/components/*.go,
  # which cmd/daprd/app imports, behind build tags (stablecomponents,
  # allcomponents) and without a tag only panics. Empty that package.
  [ -f "$work/dapr/cmd/daprd/components/zz_notag.go" ] || { echo "build.sh: dapr cmd/daprd/components has no zz_notag.go; check how this dapr version registers components" >&2; exit 1; }
  rm -f "$work/dapr/cmd/daprd/components/"*.go
  printf '%s\n' '// Package components is emptied by deploy/dapr-runtime/build.sh: daprd' \
    '// registers the component set of deploy/dapr-runtime/cmd/daprd/components.go.' 'package components' \
    >"$work/dapr/cmd/daprd/components/components.go"
  # durabletask-go's workflow backend hands a work item to the app before it
  # registers the pending task, so a fast app's answer can be dropped and
  # the workflow hangs (patches/durabletask-local-task.go.txt says how it is
  # fixed). The upstream file must be exactly the one the patch was made from.
  local dt
  dt=$(cd "$here" && GOWORK=off go list -m -f '{{.Dir}}' github.com/dapr/durabletask-go)
  cp -r "$dt" "$work/durabletask-go" && chmod -R u+w "$work/durabletask-go"
  echo "6f0f6fc38cac44dbee8d75dc6279cf25c2e8d1a09af45eb61e13c4afe2790dd6  $work/durabletask-go/backend/local/task.go" | sha256sum -c --quiet - \
    || { echo "build.sh: durabletask-go backend/local/task.go is not the v0.10.2 file the patch was made from ($dt)" >&2; exit 1; }
  cp "$here/patches/durabletask-local-task.go.txt" "$work/durabletask-go/backend/local/task.go"
  # A work item waits for a connected worker forever; after the app is
  # killed that deadlocks the workflow engine (patches/durabletask-executor.go.txt).
  echo "856993d920036c17d9bc1fece015b4970884639bb5b2b45297612f867f10a0f1  $work/durabletask-go/backend/executor.go" | sha256sum -c --quiet - \
    || { echo "build.sh: durabletask-go backend/executor.go is not the v0.10.2 file the patch was made from ($dt)" >&2; exit 1; }
  cp "$here/patches/durabletask-executor.go.txt" "$work/durabletask-go/backend/executor.go"
  # Workflow actors are unregistered and halted whenever the app's stream
  # drops, which let a killed app's workflows run twice (patches/wfengine.go.txt).
  echo "81870abd3d4d7ca85814d8c0ff5b6ca21d668c10f247817b2850c2e764e2a58e  $work/dapr/pkg/runtime/wfengine/wfengine.go" | sha256sum -c --quiet - \
    || { echo "build.sh: dapr pkg/runtime/wfengine/wfengine.go is not the v1.16.5 file the patch was made from ($src)" >&2; exit 1; }
  cp "$here/patches/wfengine.go.txt" "$work/dapr/pkg/runtime/wfengine/wfengine.go"
  # A failed workflow run left its half-applied events in the actor's cached
  # state, and the next run replayed them twice (patches/workflow-orchestrator-invoke.go.txt).
  echo "3405a330ae4d6a850a0f01506fb81d1283e85324193572e67541aeff42484bf1  $work/dapr/pkg/actors/targets/workflow/orchestrator/invoke.go" | sha256sum -c --quiet - \
    || { echo "build.sh: dapr pkg/actors/targets/workflow/orchestrator/invoke.go is not the v1.16.5 file the patch was made from ($src)" >&2; exit 1; }
  cp "$here/patches/workflow-orchestrator-invoke.go.txt" "$work/dapr/pkg/actors/targets/workflow/orchestrator/invoke.go"
  # Dapr 1.16.5 refuses a parent's repeated creation of a child workflow it
  # created just before crashing, which wedges the parent; v1.17.0 fixed it
  # (patches/workflow-orchestrator-create.go.txt is that fix on 1.16.5).
  replace_checked "$work/dapr" pkg/actors/targets/workflow/orchestrator/create.go \
    17392632caf76c8e5922e49f78d36cb99e83cb30dd62488a533dacedd349b940 workflow-orchestrator-create.go.txt
  # components-contrib v1.16.5's SQLite name resolver deletes the fresh
  # registrations at its first cleanup (an hour after start), killing every
  # sidecar (patches/nameresolution-sqlite.go.txt says what changes).
  local cc
  cc=$(cd "$here" && GOWORK=off go list -m -f '{{.Dir}}' github.com/dapr/components-contrib)
  [ -n "$cc" ] && [ -d "$cc" ] || { echo "build.sh: the github.com/dapr/components-contrib module is not in the module cache" >&2; exit 1; }
  cp -r "$cc" "$work/components-contrib" && chmod -R u+w "$work/components-contrib"
  replace_checked "$work/components-contrib" nameresolution/sqlite/sqlite.go \
    e8ecb067abd28447e9172159414d3f3847afbf6087a553745ad45585eef3f937 nameresolution-sqlite.go.txt
  # Its SQLite state store answered the keys a read had not reached when its
  # context ended as absent, without an error, which gave workflow actors
  # histories with holes (patches/state-sqlite-dbaccess.go.txt; checked by
  # internal/statecheck).
  replace_checked "$work/components-contrib" state/sqlite/sqlite_dbaccess.go \
    60f70d63b745dafc9f69ef46046bddea890880fe2c355a311b2ea658bcd26348 state-sqlite-dbaccess.go.txt
  # Its JetStream pub/sub subscribed without nats.ManualAck(), so in
  # "parallel" mode a message was acknowledged as it arrived and a killed
  # subscriber's work was lost (patches/pubsub-jetstream.go.txt, ADR 0019;
  # checked by internal/jetstreamcheck).
  replace_checked "$work/components-contrib" pubsub/jetstream/jetstream.go \
    99090931dad8fe9d80300ebbbb85b0510183c628b925302194a5d535e85276bf pubsub-jetstream.go.txt
  # modernc.org/sqlite v1.34.5 (name resolver and state.sqlite) leaks a
  # statement stepped to its first row when the query's context ends at that
  # moment, and the pooled connection then reads an old snapshot for good
  # (internal/sqlitecheck shows it). Upstream later closes the rows there;
  # so do we, on the one line, in the exact file checked by its sha256.
  local mc
  mc=$(cd "$here" && GOWORK=off go list -m -f '{{.Dir}}' modernc.org/sqlite)
  [ -n "$mc" ] && [ -d "$mc" ] || { echo "build.sh: the modernc.org/sqlite module is not in the module cache" >&2; exit 1; }
  cp -r "$mc" "$work/sqlite" && chmod -R u+w "$work/sqlite"
  echo "8a154ee7a9d9d3736ac1389111ccad207e89b55bbef00736a4c567a7644c64e8  $work/sqlite/sqlite.go" | sha256sum -c --quiet - \
    || { echo "build.sh: modernc.org/sqlite sqlite.go is not the v1.34.5 file the patch was made for ($mc); check whether the new version closes the rows itself" >&2; exit 1; }
  sed -i '640s|^\t\t\tr, err = nil, ctx.Err()$|\t\t\tif r != nil { _ = r.Close() }; r, err = nil, ctx.Err() // secure-agent patch: close the stepped statement|' "$work/sqlite/sqlite.go"
  grep -q 'if r != nil { _ = r.Close() }; r, err = nil, ctx.Err()' "$work/sqlite/sqlite.go" || { echo "build.sh: the modernc.org/sqlite patch did not apply" >&2; exit 1; }
  # The scheduler embeds etcd 3.5.33 (pinned for its security fixes). Its
  # gRPC server still uses otelgrpc's interceptors, which otelgrpc v0.61.0
  # (needed by grpc 1.83.1 and otel 1.45, pinned for theirs) removed; its
  # replacement is the stats handler, on the one code path tracing uses
  # (off in Dapr). Checked like the others.
  local etcd
  etcd=$(cd "$here" && GOWORK=off go list -m -f '{{.Dir}}' go.etcd.io/etcd/server/v3)
  [ -n "$etcd" ] && [ -d "$etcd" ] || { echo "build.sh: the go.etcd.io/etcd/server/v3 module is not in the module cache" >&2; exit 1; }
  cp -r "$etcd" "$work/etcd-server" && chmod -R u+w "$work/etcd-server"
  echo "1aed30eb912538e24485e60c7bde35403e78982836be16be06547803b2d14682  $work/etcd-server/etcdserver/api/v3rpc/grpc.go" | sha256sum -c --quiet - \
    || { echo "build.sh: etcd server etcdserver/api/v3rpc/grpc.go is not the v3.5.33 file the patch was made for ($etcd)" >&2; exit 1; }
  sed -i -e '60s|^\t\tchainUnaryInterceptors = append(chainUnaryInterceptors, otelgrpc.UnaryServerInterceptor(s.Cfg.ExperimentalTracerOptions...))$|\t\topts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(s.Cfg.ExperimentalTracerOptions...))) // secure-agent patch: otelgrpc v0.61 has no interceptors|' \
    -e '61{/otelgrpc.StreamServerInterceptor/d}' "$work/etcd-server/etcdserver/api/v3rpc/grpc.go"
  grep -q 'secure-agent patch: otelgrpc v0.61 has no interceptors' "$work/etcd-server/etcdserver/api/v3rpc/grpc.go" \
    && ! grep -q 'otelgrpc.StreamServerInterceptor' "$work/etcd-server/etcdserver/api/v3rpc/grpc.go" \
    || { echo "build.sh: the etcd server patch did not apply" >&2; exit 1; }
  mkdir -p "$work/tools" && cp -r "$here/go.mod" "$here/go.sum" "$here/cmd" "$here/internal" "$work/tools/"
  (cd "$work/tools" && GOWORK=off go mod edit -replace "github.com/dapr/dapr=../dapr" -replace "github.com/dapr/durabletask-go=../durabletask-go" \
    -replace "github.com/dapr/components-contrib=../components-contrib" -replace "modernc.org/sqlite=../sqlite" \
    -replace "go.etcd.io/etcd/server/v3=../etcd-server")
  echo "$work/tools"
}

# replace_checked MODULE_COPY FILE SHA256 PATCH: replaces FILE in the module
# copy with patches/PATCH, only if FILE is exactly the upstream file the
# patch was made from (a version bump fails here instead of building
# without the fix).
replace_checked() {
  local mod=$1 file=$2 sum=$3 patch=$4
  echo "$sum  $mod/$file" | sha256sum -c --quiet - \
    || { echo "build.sh: $file is not the upstream file patches/$patch was made from; port the patch to the new version" >&2; exit 1; }
  cp "$here/patches/$patch" "$mod/$file"
}

have_all() { for b in "${bins[@]}"; do [ -x "$1/$b" ] || return 1; done; }

if ! have_all "$cache"; then
  echo "==> building the Dapr runtime $(dapr_version) for $target from the Go module proxy (first time on this machine: ~10 min)"
  tmp="$cache.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  cd "$here"
  export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
  start=$(date +%s)
  # Without DWARF (compiled and linked), but with the symbol table: -s
  # would strip it, and govulncheck then reports every vulnerable function
  # of a linked package as reachable (it did: aws-sdk-go's s3crypto and
  # chi's RealIP, which daprd never calls).
  flags="-tags timetzdata -trimpath -gcflags=all=-dwarf=false"
  ldflags="-w -X github.com/dapr/dapr/pkg/buildinfo.version=$(dapr_version)"
  if [ "$target" = "$host" ]; then go build $flags -ldflags "-w" -o "$tmp/nats-server" github.com/nats-io/nats-server/v2; fi
  # prepare_sources runs in a subshell: its exit only ends that, so check.
  srcdir=$(prepare_sources "$tmp/src") && [ -d "$srcdir" ] || { echo "build.sh: preparing the patched sources failed; see above" >&2; exit 1; }
  cd "$srcdir"
  # The checks run on this machine; they test the same sources for every
  # platform. They compile with the binaries' flags, so the packages both
  # use (modernc.org/sqlite, the state store, nats-server) compile once.
  go test -count=1 -vet=off -trimpath -gcflags=all=-dwarf=false -tags timetzdata,runtimecheck ./internal/... || { echo "build.sh: the patched sources fail their checks (internal/); see above" >&2; exit 1; }
  export GOOS=${target%/*} GOARCH=${target#*/}
  # No stablecomponents tag: cmd/daprd/components.go registers our component set.
  go build $flags -ldflags "$ldflags" -o "$tmp/daprd" ./cmd/daprd
  go build $flags -ldflags "$ldflags" -o "$tmp/" \
    github.com/dapr/dapr/cmd/placement github.com/dapr/dapr/cmd/scheduler github.com/dapr/dapr/cmd/sentry
  grep -qa '127.0.0.1:%d' "$tmp/sentry" || { echo "build.sh: the built sentry lacks the loopback patch" >&2; exit 1; }
  grep -qa 'ignoring duplicate child workflow creation' "$tmp/daprd" || { echo "build.sh: the built daprd lacks the child-workflow patch" >&2; exit 1; }
  grep -qa 'last_update >= 2 \* %d' "$tmp/daprd" || { echo "build.sh: the built daprd lacks the name-resolver patch" >&2; exit 1; }
  grep -qa 'no connected worker took the' "$tmp/daprd" || { echo "build.sh: the built daprd lacks the work-item dispatch patch" >&2; exit 1; }
  grep -qa 'workflow actors stay registered until the app reconnects' "$tmp/daprd" || { echo "build.sh: the built daprd lacks the workflow-actor registration patch" >&2; exit 1; }
  grep -qa 'dropping the cached workflow state after a failed run' "$tmp/daprd" || { echo "build.sh: the built daprd lacks the workflow state-cache patch" >&2; exit 1; }
  grep -qa 'read the requested keys: %w' "$tmp/daprd" || { echo "build.sh: the built daprd lacks the state.sqlite BulkGet patch" >&2; exit 1; }
  # (the symbol table escapes the module path's dot: nats%252ego)
  grep -qa 'nats-io/nats%252ego.ManualAck' "$tmp/daprd" || { echo "build.sh: the built daprd lacks the pubsub.jetstream ManualAck patch" >&2; exit 1; }
  # Our component set, not upstream's (the package paths are in the binary's symbol table).
  grep -qa 'components-contrib/secretstores/aws/secretmanager' "$tmp/daprd" || { echo "build.sh: the built daprd lacks secretstores.aws.secretmanager (cmd/daprd/components.go)" >&2; exit 1; }
  ! grep -qa 'components-contrib/pubsub/kafka' "$tmp/daprd" || { echo "build.sh: the built daprd has upstream's component set (Kafka), not cmd/daprd/components.go's" >&2; exit 1; }
  cd "$here" && rm -rf "$tmp/src"
  rm -rf "$cache" && mv "$tmp" "$cache"
  echo "==> Dapr runtime built in $(( $(date +%s) - start ))s (cached in $cache)"
fi
for b in "${bins[@]}"; do
  # Copy, not link: a rebuild of the cache must never change a running stack's binary.
  cp -f "$cache/$b" "$out/$b.new" && mv -f "$out/$b.new" "$out/$b"
done
