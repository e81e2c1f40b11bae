# berth's build and test entry points. Recipes stay thin: the machine set-up
# lives in .ci/deps.sh, the end-to-end harness in e2e/.
#
#   make            build bin/berth
#   make test       what CI runs: deps, unit tests (-race), end-to-end tests
#   make lint       gofmt, go vet, staticcheck

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
# Run prerequisites one after another, in the order written (test: deps unit e2e).
.NOTPARALLEL:

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# honnef.co/go/tools v0.8.2 is staticcheck 2026.2.2, the newest the module
# proxy serves that builds with our Go (the proxy does not resolve the
# 2025.1.1-style names, hence the module version).
STATICCHECK_VERSION ?= v0.8.2
BERTH_BIN := $(CURDIR)/bin/berth

.DEFAULT_GOAL := build
.PHONY: build deps unit e2e test lint bench demo clean

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/berthdev/berth/cmd/cli.version=$(VERSION)" -o bin/berth ./cmd/berth

deps:
	bash .ci/deps.sh

# Every package but the end-to-end ones, which need the binary and an engine.
# service/engine and service/builtin run the backend conformance suite
# themselves (on the engine; as root, on a temporary built-in root).
unit:
	all=$$(go list ./...); pkgs=$$(grep -Ev '/e2e(/|$$)' <<<"$$all" || true); \
	if [[ -z $$pkgs ]]; then echo "unit: no packages to test yet"; exit 0; fi; \
	go test -race -count=1 -timeout 20m $$pkgs

# The fault campaign (TestFaultCampaign) takes a few minutes per backend.
# -v for each test's duration in CI's log (the RUN lines left out).
# Under CI=true the multi-node swarm tests run too (two private dockerds
# in network namespaces of their own; e2e/swarm_multinode_test.go);
# BERTH_E2E_SWARM_NODES=2 asks for them anywhere.
BERTH_E2E_SWARM_NODES ?= $(if $(filter true 1,$(CI)),2,)
e2e: deps build
	BERTH_E2E_SWARM_NODES=$(BERTH_E2E_SWARM_NODES) BERTH_BIN=$(BERTH_BIN) go test -count=1 -timeout 40m -v ./e2e/... | grep --line-buffered -v -E '^\s*=== (RUN|PAUSE|CONT|NAME)'


# Fuzz seed corpora run as plain tests in unit.
test: deps unit e2e

lint:
	out=$$(gofmt -l .); if [[ -n $$out ]]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi
	go vet ./...
	if GOBIN=$(CURDIR)/bin/tools go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); then \
		bin/tools/staticcheck ./...; \
	else \
		echo "lint: staticcheck $(STATICCHECK_VERSION) does not build with $$(go env GOVERSION); skipped"; \
	fi

# Timings of berth (and of docker compose when it is on PATH) against the
# engine's own floor, as medians: see e2e/bench_test.go.
bench: deps build
	BERTH_BIN=$(BERTH_BIN) BERTH_BENCH=1 go test -count=1 -timeout 60m -run 'TestBench(Report|Builtin|Watch|Swarm)' -v ./e2e/ | grep -v -e '^=== RUN' -e '^--- ' -e '^PASS' -e '^ok '

# The README's main command: the example project built, up, checked, and
# down, on the Docker engine when one answers, else on berth's built-in
# runtime (as root). Its images build on the test image made from Debian's
# busybox-static (no registry needed): imported into the engine, or loaded
# into the built-in runtime's store.
DEMO := ./bin/berth -f testdata/example/compose.yaml -p berth-demo
demo: build
	@command -v busybox >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
	./bin/berth version
	BERTH_BIN=$(BERTH_BIN) BERTH_DEMO=1 go test -count=1 -run '^TestDemoImage$$' ./e2e/ >/dev/null
	$(DEMO) up -d --build --wait
	$(DEMO) ps
	busybox wget -qO- http://127.0.0.1:18080/
	$(DEMO) down -v --rmi local

clean:
	rm -rf bin/
