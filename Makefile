# creditdesk — everything a fresh machine needs goes through here.
GO      ?= go
BIN     := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

STRIPE_MOCK_VERSION := v0.203.0
PEBBLE_VERSION      := v2.10.3

.PHONY: run build test vet fmt-check hygiene bench stripe-mock pebble clean

## run: the console in demo mode (no Stripe account, no config)
run: build
	$(BIN)/creditdesk demo

## build: bin/creditdesk
build:
	$(GO) build -o $(BIN)/creditdesk .

## test: gofmt, go vet, every test with the race detector
test: hygiene fmt-check vet stripe-mock pebble
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

# hygiene: no build output in the repository. A tracked file outside a
# testdata folder that holds a NUL byte (a binary) or is over 1 MiB fails.
hygiene:
	@git ls-files 2>/dev/null | { bad=0; while IFS= read -r f; do \
	  case "$$f" in testdata/*|*/testdata/*) continue;; esac; \
	  [ -f "$$f" ] || continue; \
	  size=$$(wc -c < "$$f"); \
	  if [ "$$size" -gt 1048576 ]; then echo "tracked file over 1 MiB: $$f (build output? add it to .gitignore and git rm --cached it)"; bad=1; \
	  elif [ "$$size" -gt 0 ] && ! tr -d '\000' < "$$f" | cmp -s - "$$f"; then echo "tracked binary file: $$f (build output? add it to .gitignore and git rm --cached it)"; bad=1; fi; \
	done; exit $$bad; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## stripe-mock: install stripe-mock into ./bin (tests start it on a free port)
stripe-mock: $(BIN)/stripe-mock
$(BIN)/stripe-mock:
	GOBIN=$(BIN) $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

## pebble: install Let's Encrypt's test ACME server and its DNS into ./bin
## (the HTTPS tests start them on free loopback ports; their test CA comes
## with the module, which go install leaves in the module cache)
pebble: $(BIN)/pebble $(BIN)/pebble-challtestsrv
$(BIN)/pebble:
	GOBIN=$(BIN) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION)
$(BIN)/pebble-challtestsrv:
	GOBIN=$(BIN) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)

## bench: simulate against serve on loopback, plus Go benchmarks; see docs/PERFORMANCE.md
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./storage/ ./billing/
	bash docs/bench.sh

clean:
	rm -rf $(BIN)
