# payflow — the commands a newcomer needs: `make dev`, `make test`.
SHELL := /bin/bash
GO ?= go
TEMPORAL_CLI_VERSION := v1.5.1
TOOLS := $(CURDIR)/.tools/bin
TEMPORAL := $(TOOLS)/temporal
TEMPORAL_STAMP := $(TOOLS)/.temporal-$(TEMPORAL_CLI_VERSION)
WORKFLOWCHECK_VERSION := v0.6.0
WORKFLOWCHECK := $(TOOLS)/workflowcheck
PAYFLOW := $(CURDIR)/bin/payflow
# A real Temporal cluster (make cluster): the server and its SQL schema tool,
# pinned like the CLI, from the same module (deploy/temporal/temporal.go
# names the same version).
TEMPORAL_SERVER_VERSION := v1.29.1
TEMPORAL_SERVER := $(TOOLS)/temporal-server
TEMPORAL_SQL_TOOL := $(TOOLS)/temporal-sql-tool
TEMPORAL_SERVER_STAMP := $(TOOLS)/.cluster-server-$(TEMPORAL_SERVER_VERSION)
# promtool, Prometheus's rule checker (make obs-check), pinned, from the
# module proxy like the Temporal tools.
PROMETHEUS_VERSION := v0.316.0
PROMTOOL := $(TOOLS)/promtool
PROMTOOL_STAMP := $(TOOLS)/.promtool-$(PROMETHEUS_VERSION)
# make test's fuzz run is a number of executions (about 10 s here), not a
# duration: Go 1.26's fuzz coordinator can report its own -fuzztime
# deadline as a failure (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 20000x

export PAYFLOW_TEMPORAL_BIN := $(TEMPORAL)
export PAYFLOW_TEMPORAL_SERVER_BIN := $(TEMPORAL_SERVER)
export PAYFLOW_TEMPORAL_SQL_BIN := $(TEMPORAL_SQL_TOOL)

.PHONY: all build dev test test-unit test-integration lint fuzz bench chaos tools clean cluster cluster-down cluster-status cluster-tools test-cluster deploy-check obs-check

all: build

build:
	$(GO) build -o $(PAYFLOW) ./cmd/payflow

# Temporal's CLI (dev server + Web UI), pinned, built from the Go module proxy
# into a git-ignored folder. Only the first run takes minutes.
$(TEMPORAL_STAMP):
	@echo ">> installing Temporal CLI $(TEMPORAL_CLI_VERSION) into .tools/bin (first run only, takes a few minutes)"
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)
	@rm -f $(TOOLS)/.temporal-* && touch $@

$(WORKFLOWCHECK):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

tools: $(TEMPORAL_STAMP)

# Temporal's server (cmd/server) and SQL schema tool (cmd/tools/sql), from
# the Go module proxy like the CLI, renamed so they never shadow anything.
$(TEMPORAL_SERVER_STAMP):
	@echo ">> installing Temporal server $(TEMPORAL_SERVER_VERSION) and its SQL tool into .tools/bin (first run only, takes a few minutes)"
	@rm -rf $(TOOLS)/.cluster-build && mkdir -p $(TOOLS)/.cluster-build
	GOBIN=$(TOOLS)/.cluster-build $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	mv $(TOOLS)/.cluster-build/server $(TEMPORAL_SERVER)
	mv $(TOOLS)/.cluster-build/sql $(TEMPORAL_SQL_TOOL)
	@rm -rf $(TOOLS)/.cluster-build $(TOOLS)/.cluster-server-* && touch $@

cluster-tools: $(TEMPORAL_SERVER_STAMP)

# promtool is built inside Prometheus's module, downloaded from the proxy,
# not with `go install …/cmd/promtool@version`, which refuses any version
# whose go.mod has replace directives (several have). The module cache is
# read-only, so -o points here; GOWORK=off ignores the module's go.work.
$(PROMTOOL_STAMP):
	@echo ">> building promtool $(PROMETHEUS_VERSION) into .tools/bin (first run only, takes a few minutes)"
	@mkdir -p $(TOOLS)
	dir=$$($(GO) mod download -json github.com/prometheus/prometheus@$(PROMETHEUS_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && test -n "$$dir" && \
	  cd "$$dir" && GOWORK=off GOFLAGS='-mod=mod -buildvcs=false' $(GO) build -trimpath \
	  -ldflags '-X github.com/prometheus/common/version.Version=$(PROMETHEUS_VERSION:v%=%)' -o $(PROMTOOL) ./cmd/promtool
	@rm -f $(TOOLS)/.promtool-* && touch $@

# A real Temporal cluster on the local PostgreSQL (127.0.0.1:5432, user
# postgres): frontend, history, matching and worker as four background
# processes, frontend on 127.0.0.1:17233, namespace default with payflow's
# search attributes (README, "Running on a Temporal cluster"). CLUSTER_FLAGS
# go to `payflow-cluster up` (-h lists them). cluster-down stops it and keeps
# its databases; CLUSTER_RESET=1 drops them. The tool is built once, by
# `make cluster`, so that stopping never depends on the tree compiling then.
PAYFLOW_CLUSTER := $(CURDIR)/bin/payflow-cluster

cluster: $(TEMPORAL_SERVER_STAMP)
	$(GO) build -o $(PAYFLOW_CLUSTER) ./cmd/payflow-cluster
	$(PAYFLOW_CLUSTER) up $(CLUSTER_FLAGS)

cluster-status:
	@test -x $(PAYFLOW_CLUSTER) || $(GO) build -o $(PAYFLOW_CLUSTER) ./cmd/payflow-cluster
	@$(PAYFLOW_CLUSTER) status

cluster-down:
	@test -x $(PAYFLOW_CLUSTER) || $(GO) build -o $(PAYFLOW_CLUSTER) ./cmd/payflow-cluster
	$(PAYFLOW_CLUSTER) down $(if $(filter 1,$(CLUSTER_RESET)),-drop)

# Only the cluster's tests: payflow's serve and worker against a fresh real
# cluster (databases of its own, dropped after): the smoke test, and the
# scale-out storm with and without a worker and a history host killed,
# about 3 minutes, PostgreSQL on 127.0.0.1:5432 (make test runs them too
# when PAYFLOW_TEST_POSTGRES_URL is set).
test-cluster: $(TEMPORAL_SERVER_STAMP) $(TEMPORAL_STAMP)
	PAYFLOW_TEST_CLUSTER=1 $(GO) test -count=1 -v -timeout 10m -run 'TestCluster' ./internal/cluster/ ./integration/

dev: build $(TEMPORAL_STAMP)
	$(PAYFLOW) dev

# Everything: vet, workflowcheck, unit tests, the store on SQLite and (when
# PAYFLOW_TEST_POSTGRES_URL is set) PostgreSQL, integration tests against a
# real Temporal dev server (and, with PostgreSQL, on a real Temporal cluster:
# TestClusterSmoke and TestClusterScaleOut, about 3 minutes), the Helm
# chart's check (deploy-check), the dashboard and alert rules (obs-check)
# and a short fuzz run of the receiver.
# The integration tests run on their own, after the rest: they wait on a
# real Temporal server, and sharing two cores with the other packages' race
# builds only makes those waits longer.
test: $(TEMPORAL_STAMP) $(TEMPORAL_SERVER_STAMP) lint deploy-check obs-check
	$(GO) test -count=1 -race -timeout 10m $$($(GO) list ./... | grep -v '/integration$$')
	$(GO) test -count=1 -race -timeout 10m ./integration/
	$(GO) test -run '^$$' -fuzz FuzzReceiver -fuzztime $(FUZZTIME) ./webhook/

lint: $(WORKFLOWCHECK)
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(WORKFLOWCHECK) ./workflows/...

# The Helm chart (deploy/helm/payflow), offline: Helm's lint, renders with
# several value sets decoded strictly into Kubernetes' types, the semantics
# (probes, selectors, secrets, the migrate hook) and `payflow config` on
# each container's environment. A Go module of its own (deploy/helm/check),
# so payflow's go.mod gains no Helm or Kubernetes dependency.
deploy-check:
	cd deploy/helm/check && $(GO) vet ./... && $(GO) test -count=1 ./...

# The Grafana dashboard and the Prometheus rules (deploy/grafana,
# deploy/prometheus): promtool checks the rules and runs their unit tests;
# deploy/observability_test.go holds every metric, label and value they use
# to what payflow exports, checks the dashboard's shape and has promtool
# parse each of its queries.
obs-check: $(PROMTOOL_STAMP)
	$(PROMTOOL) check rules deploy/prometheus/payflow-alerts.yaml
	$(PROMTOOL) test rules deploy/prometheus/payflow-alerts.test.yaml
	PAYFLOW_PROMTOOL=$(PROMTOOL) $(GO) test -count=1 -run 'TestObservability|TestAlertRules|TestDashboard|TestPromQL' ./deploy/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReceiver -fuzztime 5m ./webhook/

bench: build $(TEMPORAL_STAMP) $(TEMPORAL_SERVER_STAMP)
	$(GO) run ./bench/cmd/benchrun -payflow $(PAYFLOW) -temporal $(TEMPORAL)

# Faults against real processes, mid-burst (not part of `make test`; a few
# minutes): worker and Temporal kill -9, Temporal SIGSTOP, SQLite and
# PostgreSQL unavailable, SendGrid failing and hanging. Fails on any lost or
# duplicated effect. One scenario: make chaos CHAOS_FLAGS='-scenario worker-kill -n 100'
chaos: $(TEMPORAL_STAMP) $(TEMPORAL_SERVER_STAMP)
	$(GO) run ./chaos/cmd/chaos -temporal $(TEMPORAL) $(CHAOS_FLAGS)

clean:
	rm -rf bin .payflow

# Re-record the workflow histories the replay test checks (after a workflow
# change that is deliberately not backward compatible, or to add cases).
record-histories: $(TEMPORAL_STAMP)
	PAYFLOW_RECORD_HISTORIES=$(CURDIR)/workflows/testdata/histories $(GO) test -count=1 -v -run 'Test' ./integration/ | grep -E 'recorded|^(ok|FAIL|---)'
