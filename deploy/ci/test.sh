#!/usr/bin/env bash
# `make test`: every suite that must pass, ordered so that the CPU-bound
# builds the tests need later run in the background while the suites that
# mostly wait (databases, sidecars, a kube-apiserver, whole stacks) run in
# the foreground. On a machine with empty caches most of the time goes to
# compiling the runtime and the test-only tools (kube-apiserver, etcd, the
# Dapr CLI); on 2 cores, running them in the gaps the tests leave keeps both
# cores busy throughout. With warm caches the builds take seconds and this
# is the plain sequence. The images are built, checked and scanned for
# PLATFORMS (the Makefile passes TEST_PLATFORMS: this machine's by default).
#
# Background jobs run at a low CPU priority (nice 10 or 19), so they do not
# slow a test that wants the CPU; each writes to dist/logs/NAME.log, which
# is printed when the foreground joins it. A failed job fails the run at its
# join, naming its log; on any exit the jobs still running are stopped.
#
#   foreground                          background
#   services, runtime (amd64), build    Dapr CLI, Prometheus (nice 10);
#                                       kube-apiserver/etcd (nice 19)
#   test-unit-go                        images (after the amd64 runtime)
#   test-unit-cli    (joins the CLI and Prometheus)
#   test-observability (dashboards, alert rules with promtool, Datadog assets)
#                    (joins images)
#   test-integration                    vulncheck, fuzz (the audit log's
#                                       parsers and proofs, redaction)
#   test-chart       (joins kube-tools, then vulncheck, fuzz)
#
# The integration suite needs the Dapr CLI and Prometheus but not
# kube-apiserver, the longest build (about 20 CPU-minutes): it is built at
# the lowest priority and has until the integration suite ends, while the
# two the suites need first get the CPU before it. (A cold run with all
# three at one priority waited for them: 38 of its minutes went to tools.)
#
# Environment: MAKE (the make to call; the Makefile passes its own), PLATFORMS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
make=${MAKE:-make}
logs=$root/dist/logs
mkdir -p "$logs"
start=$(date +%s)

declare -A pids=()
stop_jobs() {
  for name in "${!pids[@]}"; do
    # Each job is its own process group (set -m below): stop all of it.
    kill -TERM -- "-${pids[$name]}" 2>/dev/null || true
  done
}
trap stop_jobs EXIT

stamp() { echo "==> [$(( $(date +%s) - start ))s] $*"; }

# bg NAME COMMAND...: starts COMMAND niced (NICE, default 19), in its own
# process group.
bg() {
  local name=$1; shift
  stamp "$name: started in the background (log: dist/logs/$name.log)"
  set -m
  nice -n "${NICE:-19}" bash -c 'TIMEFORMAT="==> '"$name"': %0R s wall, %0U s user CPU, %0S s system CPU"; time "$@"' _ "$@" >"$logs/$name.log" 2>&1 &
  pids[$name]=$!
  set +m
}

# join NAME: waits for the job, prints its log, fails if it failed.
join() {
  local name=$1 rc=0
  wait "${pids[$name]}" || rc=$?
  unset "pids[$name]"
  stamp "$name: background job done (exit $rc); its output:"
  sed 's/^/    /' "$logs/$name.log"
  if [ "$rc" != 0 ]; then
    echo "make test: $name failed (exit $rc); its output is above and in dist/logs/$name.log" >&2
    exit "$rc"
  fi
}

# Every step reports its wall and CPU time (on a cold machine the CPU time,
# not the wall time, says what a faster ordering could save).
fg() {
  stamp "make $*"
  local TIMEFORMAT="==> make $*: %0R s wall, %0U s user CPU, %0S s system CPU"
  time "$make" --no-print-directory "$@"
}

# integration: test-integration, its output also in dist/logs/integration.log;
# when it fails, the end of the output names every failed test and repeats
# each failure's message (the e2e tests repeat theirs after their logs, which
# are long), so a CI view that keeps only the tail still shows why.
integration() {
  local rc=0
  stamp "make test-integration (output also in dist/logs/integration.log)"
  local TIMEFORMAT="==> make test-integration: %0R s wall, %0U s user CPU, %0S s system CPU"
  time "$make" --no-print-directory test-integration 2>&1 | tee "$logs/integration.log" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "==> the integration suite failed (exit $rc); the failed tests and their messages:"
    grep -E '^\s*--- FAIL' "$logs/integration.log" || true
    grep -A30 -E '==== .* failed \(repeated after the logs above\) ====' "$logs/integration.log" | cut -c1-400 || true
    grep -A12 -E '^\s+Error Trace:' "$logs/integration.log" | cut -c1-400 | head -300 || true
    echo "make test: test-integration failed; its whole output is in dist/logs/integration.log" >&2
    exit "$rc"
  fi
}

NICE=10 bg tools "$make" --no-print-directory -j2 cli promtools
bg kubetools "$make" --no-print-directory kubetools
fg services
fg runtime build
bg images "$make" --no-print-directory images
fg test-unit-go
join tools
fg test-unit-cli test-observability
join images
bg vulncheck "$make" --no-print-directory vulngate
bg fuzz "$make" --no-print-directory fuzz FUZZTIME=5s
integration
join kubetools
fg test-chart
join vulncheck
join fuzz
# The CPU time of everything this script waited for (user, then system; the
# second line is its children's).
stamp "make test: everything passed; CPU time used:"
times
