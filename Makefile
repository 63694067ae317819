# Graylane. `make test` is the whole test suite (what CI runs).
GO ?= go
export GOTOOLCHAIN ?= local
FUZZTIME ?= 30s

.PHONY: test deps generate fmt-check vet unit race fuzz bench build run size

test: deps fmt-check vet unit

# Real MariaDB, PostgreSQL and Prometheus binaries for the store and analysis
# tests, from Debian packages when missing (the tests start their own servers);
# controller-gen into .cache/tools/bin; the npm nacos client into
# .cache/npm/nacos (internal/nacosserver's TestNPMClient). Meanwhile the
# Kubernetes test control plane (etcd, kube-apiserver, kube-controller-manager,
# Argo Rollouts controller, kwok) is built from the Go module proxy into
# .cache/kube/bin, when missing or stale (its tool modules at the same time;
# docs/kube-harness.md has the cold figures). hack/deps.sh prints each step's time.
deps:
	@bash hack/deps.sh

# DeepCopy methods and CRDs (config/crd/bases) from the markers of
# api/v1alpha1; a test fails when the committed ones are stale.
generate:
	@bash hack/build-tools.sh
	@bash hack/generate.sh

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.cache/*' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The race detector is on: the runtime is concurrent (needs cgo; gcc is on the machine).
# -timeout bounds a hung package; go test's default of 10m is less than the
# real-server packages take on a loaded 2-core machine.
unit:
	$(GO) test -count=1 -race -timeout 30m ./...

race:
	$(GO) test -count=1 -race -timeout 30m ./...

# Run every fuzz target for FUZZTIME each (the seed corpora also run in `make test`).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoadBytes$$' -fuzztime $(FUZZTIME) ./internal/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzDuration$$' -fuzztime $(FUZZTIME) ./internal/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzRegexMatcher$$' -fuzztime $(FUZZTIME) ./internal/route
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $(FUZZTIME) ./internal/route
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequestHead$$' -fuzztime $(FUZZTIME) ./internal/dataplane
	$(GO) test -run '^$$' -fuzz '^FuzzParseResponseHead$$' -fuzztime $(FUZZTIME) ./internal/dataplane
	$(GO) test -run '^$$' -fuzz '^FuzzRequestFraming$$' -fuzztime $(FUZZTIME) ./internal/dataplane
	$(GO) test -run '^$$' -fuzz '^FuzzEntry$$' -fuzztime $(FUZZTIME) ./internal/lane
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/signed
	$(GO) test -run '^$$' -fuzz '^FuzzObserve$$' -fuzztime $(FUZZTIME) ./internal/judge
	$(GO) test -run '^$$' -fuzz '^FuzzParseDoc$$' -fuzztime $(FUZZTIME) ./docs
	$(GO) test -run '^$$' -fuzz '^FuzzParseListening$$' -fuzztime $(FUZZTIME) ./internal/nacosserver
	$(GO) test -run '^$$' -fuzz '^FuzzParseMetadata$$' -fuzztime $(FUZZTIME) ./internal/nacosserver
	$(GO) test -run '^$$' -fuzz '^FuzzProperties$$' -fuzztime $(FUZZTIME) ./internal/springprops

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/

# The binaries' sizes (normal and -s -w), sections and bytes per module, with
# what brings each module in (bench/README.md, "Binary size").
size:
	$(GO) run ./bench/binsize
	$(GO) run ./bench/binsize -pkg ./cmd/graylane-gate -top 10

# graylane, and the gate server graylane-gate (a binary of its own: the SQL
# drivers stay out of graylane, docs/gate.md).
build:
	$(GO) build -o bin/ ./cmd/graylane ./cmd/graylane-gate
