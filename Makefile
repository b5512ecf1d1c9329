# ilities — build, test, benchmark, demo.
GO      ?= go
BIN     ?= bin/ilities
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test test-short bench demo vet clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ilities

# The full suite, statistical queueing checks included.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# Unit tests only: skips the long statistical and end-to-end checks.
test-short:
	$(GO) test -count=1 -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

# Runs the quickstart scenario on the built-in SUT and prints the report.
demo: build
	$(BIN) run examples/quickstart.yaml --out out/quickstart

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

clean:
	rm -rf bin out
