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
FUZZTIME ?= 10s

export PAYFLOW_TEMPORAL_BIN := $(TEMPORAL)

.PHONY: all build dev test test-unit test-integration lint fuzz bench chaos tools clean

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

dev: build $(TEMPORAL_STAMP)
	$(PAYFLOW) dev

# Everything: vet, workflowcheck, unit tests, the store on SQLite and (when
# PAYFLOW_TEST_POSTGRES_URL is set) PostgreSQL, integration tests against a
# real Temporal dev server, and a short fuzz run of the receiver.
# The integration tests run on their own, after the rest: they wait on a
# real Temporal server, and sharing two cores with the other packages' race
# builds only makes those waits longer.
test: $(TEMPORAL_STAMP) lint
	$(GO) test -count=1 -race -timeout 10m $$($(GO) list ./... | grep -v '/integration$$')
	$(GO) test -count=1 -race -timeout 10m ./integration/
	$(GO) test -run '^$$' -fuzz FuzzReceiver -fuzztime $(FUZZTIME) ./webhook/

lint: $(WORKFLOWCHECK)
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(WORKFLOWCHECK) ./workflows/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReceiver -fuzztime 5m ./webhook/

bench: build $(TEMPORAL_STAMP)
	$(GO) run ./bench/cmd/benchrun -payflow $(PAYFLOW) -temporal $(TEMPORAL)

# Faults against real processes, mid-burst (not part of `make test`; a few
# minutes): worker and Temporal kill -9, Temporal SIGSTOP, SQLite and
# PostgreSQL unavailable, SendGrid failing and hanging. Fails on any lost or
# duplicated effect. One scenario: make chaos CHAOS_FLAGS='-scenario worker-kill -n 100'
chaos: $(TEMPORAL_STAMP)
	$(GO) run ./chaos/cmd/chaos -temporal $(TEMPORAL) $(CHAOS_FLAGS)

clean:
	rm -rf bin .payflow

# Re-record the workflow histories the replay test checks (after a workflow
# change that is deliberately not backward compatible, or to add cases).
record-histories: $(TEMPORAL_STAMP)
	PAYFLOW_RECORD_HISTORIES=$(CURDIR)/workflows/testdata/histories $(GO) test -count=1 -v -run 'Test' ./integration/ | grep -E 'recorded|^(ok|FAIL|---)'
