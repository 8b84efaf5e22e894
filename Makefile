# make test: everything CI runs. make bench: the benchmarks (never in test).
STATICCHECK_VERSION := v0.8.2
GO ?= go

.PHONY: test deps fmt-check vet staticcheck unit bench run

test: deps fmt-check vet staticcheck unit

deps:
	@sh scripts/install-test-deps.sh
	@sh scripts/install-traefik.sh

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

unit:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./trust ./auth

run:
	$(GO) run ./cmd/gateway
