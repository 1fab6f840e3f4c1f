# secure-agent — see README.md. Needs only Go and make; `make test` starts
# (or installs) the databases and broker its suites need.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
# Go 1.27.3: the machines' Go 1.26.8 has reachable vulnerabilities fixed in
# 1.26.9/1.26.10 (the vulnerability gate finds them), and 1.27.3 is the
# release the Go module proxy serves here. The go command fetches it once.
export GOTOOLCHAIN := go1.27.3
BIN     := $(CURDIR)/bin
# Read once when make starts (not at each use): a commit made while
# `make test` runs must not give the e2e suite another version than the images.
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
LDFLAGS := -X github.com/secure-agent/secure-agent/libs/bootstrap.Version=$(VERSION)
ifeq ($(origin REVISION),undefined)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
PLATFORMS ?= linux/amd64 linux/arm64
# The platforms `make test` builds, checks and scans images for: this
# machine's. Building the runtime for a second platform costs a cold run
# about ten minutes of both cores; a release runs
# `make test TEST_PLATFORMS='$(PLATFORMS)'` (docs/supply-chain.md).
HOST_PLATFORM := linux/$(patsubst x86_64,amd64,$(patsubst aarch64,arm64,$(shell uname -m)))
TEST_PLATFORMS ?= $(HOST_PLATFORM)
IMAGE_BINARIES := orchestrator extractor publisher health agentctl daprd placement scheduler sentry
BENCH_TABLES ?= 10000
export GOFLAGS := -buildvcs=false
# How the workspace's code is compiled outside the race-detector tests: the
# way the images build it (static, -trimpath, time zones embedded, no DWARF). bin/,
# go vet and the e2e suite use it too, so a cold `make test` compiles the
# services' dependencies for this machine once (plus once with -race for the
# unit tests) instead of once per flag set.
STATIC := CGO_ENABLED=0
STATIC_FLAGS := -trimpath -tags timetzdata -gcflags=all=-dwarf=false
# How deploy/kube-tools and deploy/dapr-cli build their test-only tools
# (with CGO_ENABLED=0): the tests of deploy/k8s and deploy/dapr-cli, which
# import the same modules, use the same flags so they reuse the tools'
# compiled packages (a cold `make test` compiles them once, not twice).
TOOLS_BUILDFLAGS := -trimpath -gcflags='all=-N -l -dwarf=false'
# The compiler, the linker and govulncheck spend a sixth of their time in
# the garbage collector at the default GOGC=100; 400 saves about 13% of a
# cold build (measured on etcd; memory is plentiful). Only the go command
# and the scripts that build get it: $(GOTEST) runs the test
# binaries, and so the services the e2e suite starts, with Go's default.
BUILD_ENV := GOGC=400
GOTEST := $(BUILD_ENV) $(GO) test -exec 'env -u GOGC'
# Where `go vet` (every analyzer) has just run on the same packages, the
# tests run with -vet=off: go test's own vet pass is a subset of it.

MODULES  := libs agentctl services/orchestrator services/extractor services/publisher services/health deploy/local deploy/images e2e
SERVICES := orchestrator extractor publisher health
RUNTIME  := daprd placement scheduler sentry nats-server
RUNTIME_SRC := deploy/dapr-runtime/go.mod deploy/dapr-runtime/go.sum deploy/dapr-runtime/cmd/daprd/main.go deploy/dapr-runtime/build.sh $(wildcard deploy/dapr-runtime/patches/* deploy/dapr-runtime/internal/*/*)

.PHONY: help runtime tools build images vulncheck run test test-unit test-integration bench chaos services lint fmt clean generate fuzz

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

runtime: $(BIN)/.runtime ## build the Dapr runtime (daprd, placement, scheduler, sentry) and nats-server into bin/ (all `make run` needs)

# Every tool the tests need, built side by side (downloads and links overlap):
# the runtime, the Dapr CLI, kube-apiserver/etcd and Prometheus/promtool. Each
# is cached by content outside the checkout, so a machine that built them once
# gets them in seconds.
tools: ## build the runtime, the Dapr CLI (bin/dapr), kube-apiserver/etcd and Prometheus/promtool (bin/) for the tests, in parallel
	@$(MAKE) --no-print-directory -j3 $(BIN)/.runtime $(BIN)/dapr $(BIN)/.kubetools $(BIN)/.promtools

# One stamp for the five binaries: rebuilt only when the pinned module changes.
$(BIN)/.runtime: $(RUNTIME_SRC)
	$(BUILD_ENV) deploy/dapr-runtime/build.sh $(BIN)
	@touch $@

# kube-apiserver and etcd for the deploy/k8s tests (pinned tools modules outside go.work, cached like the runtime).
KUBETOOLS_SRC := $(wildcard deploy/kube-tools/*/go.mod deploy/kube-tools/*/go.sum) deploy/kube-tools/build.sh
.PHONY: kubetools
kubetools: $(BIN)/.kubetools ## build kube-apiserver and etcd (for the deploy/k8s tests) into bin/
$(BIN)/.kubetools: $(KUBETOOLS_SRC)
	$(BUILD_ENV) deploy/kube-tools/build.sh $(BIN)
	@touch $@

# The Prometheus server and promtool, for tests that need a real Prometheus (pinned tools module outside go.work, cached like kube-tools).
PROMTOOLS_SRC := deploy/prom-tools/go.mod deploy/prom-tools/go.sum deploy/prom-tools/build.sh
.PHONY: promtools
promtools: $(BIN)/.promtools ## build prometheus and promtool (for the tests that need a real Prometheus) into bin/
$(BIN)/.promtools: $(PROMTOOLS_SRC)
	$(BUILD_ENV) deploy/prom-tools/build.sh $(BIN)
	@touch $@

# The Dapr CLI, for deploy/local/dapr.yaml (pinned tools module outside go.work).
cli: $(BIN)/dapr ## build the Dapr CLI (for the deploy/local/dapr.yaml tests) into bin/
$(BIN)/dapr: deploy/dapr-cli/go.mod deploy/dapr-cli/go.sum deploy/dapr-cli/build.sh
	$(BUILD_ENV) deploy/dapr-cli/build.sh $(BIN)

build: ## build the four services, agentctl and the local launcher into bin/
	@mkdir -p $(BIN)
	@# One go command for all (it compiles and links them in parallel); each -X
	@# names a package only some of them have, and is ignored by the rest.
	$(BUILD_ENV) $(STATIC) $(GO) build $(STATIC_FLAGS) -ldflags '$(LDFLAGS) -X main.version=$(VERSION)' -o $(BIN)/ \
	  $(foreach s,$(SERVICES),./services/$(s)/cmd/$(s)) ./agentctl ./deploy/local/cmd/sandbox ./services/extractor/cmd/demodb ./e2e/controlplane/cmd/controlplane
	$(BUILD_ENV) $(STATIC) $(GO) build $(STATIC_FLAGS) -o $(BIN)/devstack ./deploy/local

images: ## OCI images (4 services, agentctl, the patched daprd) for linux/amd64 and arm64 into dist/oci; SA_SIGNING_KEY_FILE signs them, IMAGE_REGISTRY=host/prefix pushes them (docs/supply-chain.md)
	$(BUILD_ENV) VERSION=$(VERSION) REVISION=$(REVISION) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) PLATFORMS='$(PLATFORMS)' deploy/images/build.sh

vulncheck: images ## the vulnerability gate: govulncheck with the pinned offline database on every module and every image binary; reviewed exceptions in deploy/vulncheck/allowlist.yaml
	@$(MAKE) --no-print-directory vulngate

.PHONY: vulngate cli
vulngate: # vulncheck on the images already in dist/ (make test builds them first)
	@export $(BUILD_ENV) && tools=$$(deploy/vulncheck/build.sh) && \
	  (cd deploy/vulncheck && GOWORK=off $(GO) vet ./... && GOWORK=off $(GOTEST) -count=1 ./...) && \
	  $$tools/vulngate -govulncheck $$tools/govulncheck -db $$tools/db -allowlist deploy/vulncheck/allowlist.yaml \
	    $(foreach m,$(MODULES),-module $(m)) $(foreach p,$(PLATFORMS),$(foreach b,$(IMAGE_BINARIES),-binary dist/bin/$(subst /,_,$(p))/$(b)))

run: runtime build ## the whole stack on the embedded default plus a demo job (RUN_ONCE=1: exit after it; PROFILE=redis for Redis; CONTROLPLANE=local: through the reference control plane); Ctrl-C stops it
	$(BIN)/devstack

services: ## start (or install) Redis, PostgreSQL and MariaDB on loopback
	deploy/ci/ensure-services.sh

# deploy/ci/test.sh runs the suites in the foreground and the builds they
# need later (the Dapr CLI, kube-apiserver/etcd, the images, the vulnerability
# gate) niced in the background, in the gaps the suites leave; it prints each
# background job's output when it joins it. VERSION and friends are passed
# down so every step sees the values read when this make started.
test: ## everything that must pass (what CI runs): services, tools, build, images, test-unit, test-chart, vulncheck, test-integration; images for TEST_PLATFORMS (default: this machine's)
	VERSION='$(VERSION)' REVISION='$(REVISION)' SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' PLATFORMS='$(TEST_PLATFORMS)' MAKE='$(MAKE)' deploy/ci/test.sh

test-unit: test-unit-go test-unit-cli ## unit tests of every module (race detector on)

.PHONY: test-unit-go test-unit-cli
test-unit-go: # the workspace modules' unit tests
	@for m in $(filter-out e2e,$(MODULES)); do echo "==> go test $$m"; (cd $$m && $(BUILD_ENV) $(STATIC) $(GO) vet $(STATIC_FLAGS) ./... && $(GOTEST) -vet=off -race -count=1 ./...); done
# The fuzz targets of what parses untrusted input in the audit log and of
# the logging core's redaction, each for FUZZTIME (their seed corpora also
# run in test-unit-go); a failing input is kept under testdata/fuzz.
FUZZTIME ?= 10s
AUDIT_FUZZ = FuzzParseEntry FuzzParseCheckpoint FuzzAddCheckpointRequest FuzzVerifyProof FuzzVerifyExport
fuzz: ## fuzz the audit log's decoders and proof checks and the logging redaction, FUZZTIME each (default 10s)
	@cd libs && for f in $(AUDIT_FUZZ); do echo "==> fuzz audit $$f ($(FUZZTIME))"; \
		$(GO) test ./audit -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -parallel 1 || exit 1; done; \
		echo "==> fuzz logging FuzzRegisteredSecretNeverLogged ($(FUZZTIME))"; \
		$(GO) test ./logging -run '^$$' -fuzz '^FuzzRegisteredSecretNeverLogged$$' -fuzztime $(FUZZTIME) -parallel 1
test-unit-cli: $(BIN)/dapr # deploy/dapr-cli's tests (they check deploy/local/dapr.yaml with the CLI's own code)
	@echo "==> go test deploy/dapr-cli"; cd deploy/dapr-cli && export $(BUILD_ENV) GOWORK=off CGO_ENABLED=0 && $(GO) vet $(TOOLS_BUILDFLAGS) ./... && $(GOTEST) -vet=off $(TOOLS_BUILDFLAGS) -count=1 ./...

.PHONY: test-chart
test-chart: ## the Helm chart (charts/secure-agent) rendered with Helm v4 and checked with the Kubernetes, Dapr, KEDA, Pod Security and components-contrib libraries (deploy/k8s)
	cd deploy/k8s && export $(BUILD_ENV) GOWORK=off CGO_ENABLED=0 && $(GO) vet $(TOOLS_BUILDFLAGS) ./... && $(GOTEST) -vet=off $(TOOLS_BUILDFLAGS) -count=1 ./...

.PHONY: test-observability
test-observability: $(BIN)/.promtools ## dashboards, alert rules (promtool test rules) and Datadog assets checked against the metric catalogue (deploy/observability)
	cd deploy/observability && export $(BUILD_ENV) GOWORK=off CGO_ENABLED=0 PROMTOOL=$(BIN)/promtool && $(GO) vet $(STATIC_FLAGS) ./... && $(GOTEST) -vet=off $(STATIC_FLAGS) -count=1 ./...

test-integration: ## real stacks: local profile and PROFILE=redis, in parallel
	cd e2e && SA_ROOT=$(CURDIR) VERSION=$(VERSION) REVISION=$(REVISION) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) PLATFORMS='$(PLATFORMS)' \
	  $(STATIC) $(GOTEST) $(STATIC_FLAGS) -count=1 -timeout 35m -v ./...

bench: runtime build ## benchmarks: agentctl extract vs psql and the whole pipeline, case a (BENCH_TABLES tables, default 10000) and b (100,000 tables of 50 columns); BENCH_CASES picks (docs/operations.md)
	cd e2e && SA_ROOT=$(CURDIR) BENCH_TABLES=$(BENCH_TABLES) BENCH_CASES=$(BENCH_CASES) $(GO) run ./cmd/bench

# Not part of `make test`: up to about a minute and a half per kill (the
# job, and the 60 s ack wait when a kill loses a message in flight).
chaos: runtime build ## chaos run: jobs back to back on two replicas of every service while a random process (app, sidecar, NATS, placement, scheduler, sentry) is SIGKILLed mid-job, CHAOS_KILLS times (default 100); CHAOS_SEED repeats a run (docs/operations.md)
	cd e2e && SA_ROOT=$(CURDIR) $(GO) run ./cmd/chaos

generate: ## rewrite the files generated from charts/secure-agent/files/policy.yaml (components/config/, the pub/sub topic scopes); make test fails when they drift
	$(GO) run ./deploy/local/cmd/genpolicy

fmt: ## gofmt everything
	gofmt -w $(MODULES)

clean: ## remove bin/, data/ and dist/ (the runtime build cache in ~/.cache/secure-agent stays)
	rm -rf $(BIN) data dist
