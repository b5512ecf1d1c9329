# ilities — build, test, benchmark, demo.
GO      ?= go
BIN     ?= bin/ilities
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build image test test-short bench simbench soak-generator soak noise fuzz demo vet clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ilities

# The container image (Dockerfile: a static binary on distroless, non-root),
# with docker or podman, whichever is installed (CONTAINER=... to choose).
# examples/kubernetes runs IMAGE; load it into kind with
# `kind load docker-image $(IMAGE)`, or push it: make image IMAGE=REGISTRY/ilities:TAG.
IMAGE     ?= ilities:latest
CONTAINER ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@if [ -z "$(CONTAINER)" ]; then \
		echo "make image: neither docker nor podman is installed (or set CONTAINER=/path/to/either)"; exit 1; fi
	$(CONTAINER) build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# The full suite, statistical queueing checks included. The timeout is
# generous: beside a neighbour with many runnable threads the CLI's tests,
# which start the binary dozens of times, took 18 minutes (1 on a quiet
# machine, 2 beside compiles), and a busy host must not fail a suite that passes.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...

# Unit tests only: skips the long statistical and end-to-end checks.
test-short:
	$(GO) test -count=1 -short ./...

# Go micro-benchmarks, then one table of ilities against its peers (wrk,
# wrk2 or a paced wrk, vegeta; nginx and HAProxy as proxies; nginx as the
# target and the backends): CPU per request closed and open loop, the
# highest open-loop rate held, send lag at 1,000 req/s, proxy throughput
# and CPU, memory per connection. BENCH_ROUNDS interleaved rounds, medians
# with min-max, a noisy run repeated and a noisy figure given no ratio; the
# table is also written to out/bench.md.
BENCH_ROUNDS ?= 5
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...
	$(GO) run ./bench -ilities $(BIN) -rounds $(BENCH_ROUNDS) -out out/bench.md

# The simulation at a scale no live run reaches here: 10 minutes at
# 100,000 req/s over 1,000 backends (wall time, simulated requests per
# second of wall time, peak RSS), then requests per second by backend count
# and rate. Minutes of one core.
simbench:
	$(GO) run ./bench/simscale -duration 10m -rate 100000 -backends 1000

# The generator's resident memory over a 10-minute open loop at 5,000 req/s.
soak-generator: build
	$(GO) run ./bench -ilities $(BIN) -soak 10m

# The whole tool in one process for 10 minutes at 5,000 req/s through the
# built-in proxy, a fault every minute: RSS, goroutines and open files at
# minute 1 and at the end must be flat (within 10%).
soak:
	$(GO) run ./bench/soak -duration 10m -rate 5000/s

# A noisy neighbour for `make test` on a busy machine: NOISE_THREADS busy
# threads, each locked to its own OS thread, for NOISE_DURATION (it stops by
# itself; it prints its PID).
NOISE_THREADS  ?= 160
NOISE_DURATION ?= 10m
noise:
	$(GO) run ./bench/noise -threads $(NOISE_THREADS) -duration $(NOISE_DURATION)

# Each fuzz target for about FUZZTIME on a quiet 2-core machine (go test
# -fuzz takes one target at a time). The budget is a count of executions,
# not a duration: Go 1.26's fuzz coordinator can report "context deadline
# exceeded" as a failure when a duration ends while a starved worker is
# mid-input (golang/go#75804, fixed in Go 1.27), so a busy runner failed
# without any failing input. A count has no deadline to race; a busy
# machine only takes longer. Each target's number is its executions per
# second measured on a quiet machine.
FUZZTIME ?= 30s
FUZZ_TARGETS := scenario:FuzzParse:2000 scenario:FuzzParseRequirement:25000 run:FuzzRunScenario:200 \
	internal/http1:FuzzReadRequest:80000 internal/http1:FuzzReadResponse:80000 \
	internal/http1:FuzzFeedResponse:60000 sut/proxy:FuzzProxyConn:2000
fuzz:
	@set -e; secs=$$(echo '$(FUZZTIME)' | sed 's/s$$//'); \
	case "$$secs" in ''|*[!0-9]*) echo "FUZZTIME: want whole seconds such as 30s, got '$(FUZZTIME)'"; exit 2;; esac; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; rate=$${rest#*:}; \
		echo "fuzz $$name ($$pkg, $$((rate * secs)) inputs, about $${secs}s)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime "$$((rate * secs))x" ./$$pkg; \
	done

# Runs the quickstart scenario on the built-in SUT and prints the report.
demo: build
	$(BIN) run examples/quickstart.yaml --out out/quickstart

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

clean:
	rm -rf bin out
