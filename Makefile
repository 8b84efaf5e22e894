# make test: everything CI runs. make bench: the benchmarks (never in test).
STATICCHECK_VERSION := v0.8.2
GO ?= go

.PHONY: test deps fmt-check vet staticcheck unit bench run screenshots

test: deps fmt-check vet staticcheck unit

deps:
	@sh scripts/install-test-deps.sh
	@sh scripts/install-traefik.sh
	@sh scripts/install-openclaw.sh

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

unit:
	$(GO) test -race -count=1 -parallel 4 ./...

# make bench: micro-benchmarks, then the same-run load comparison
# (upstream direct, bare httputil.ReverseProxy, nginx, gateway) with wrk,
# a cold-start timing and a 10,000-WebSocket soak. About 2.5 minutes.
BENCH_FLAGS ?= -duration 10s -rounds 2 -soak 10000
bench:
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	@sh scripts/install-test-deps.sh
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./trust ./auth ./access ./policy ./server
	$(GO) build -o .bench/gateway ./cmd/gateway
	$(GO) build -o .bench/gatewaybench ./cmd/gatewaybench
	GATEWAY_BIN=$(CURDIR)/.bench/gateway .bench/gatewaybench $(BENCH_FLAGS)

# make screenshots: rerun the browser tests with Chromium saving the
# README's pictures of the sign-in page and the console.
screenshots: deps
	GATEWAY_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestBrowser' ./integration

run:
	$(GO) run ./cmd/gateway
