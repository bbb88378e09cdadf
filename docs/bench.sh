#!/usr/bin/env bash
# make bench: measures creditdesk on loopback. See docs/PERFORMANCE.md for
# the method and the figures last measured. Every load here goes to
# 127.0.0.1 only, is bounded in count and time, and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./bin/creditdesk
[ -x "$BIN" ] || go build -o "$BIN" .

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port/api/stripe/webhook"
export STRIPE_WEBHOOK_SECRET=whsec_bench_$(date +%s)
export STRIPE_SECRET_KEY=

echo "== receiver: creditdesk serve on 127.0.0.1:$port, database in $work"
(cd "$work" && exec "$OLDPWD/$BIN" serve --db "$work/bench.db" --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

echo "== max throughput: 50,000 signed pack checkouts, 64 connections"
"$BIN" simulate --url "$url" --load --count 50000 --concurrency 64
echo "== fixed rate: 1,000 events/s for 20 s (open loop; latency from each event's slot)"
"$BIN" simulate --url "$url" --load --rate 1000 --count 20000 --concurrency 64
echo "== whole flows (plans, renewals out of order, refunds, redeliveries): 5,000 events"
"$BIN" simulate --url "$url" --count 5000 --concurrency 16

kill -TERM %1; wait %1 || true
"$BIN" verify --db "$work/bench.db"

echo "== Go benchmarks"
go test -run '^$' -bench . -benchtime 2s ./storage/ ./billing/ ./webhook/ | grep -E '^(Benchmark|ok|PASS)'

echo "== console first frame on a store of 100,000 users and 1,000,000 events"
echo "   (the store is seeded once into bin/bigstore.db, a few minutes)"
CREDITDESK_BIGSTORE="$PWD/bin/bigstore.db" go test -count=1 -run FirstFrameOnBigStore -v -timeout 30m ./internal/cli/ | grep -E 'BIGSTORE|seeded|run [0-9]|FAIL|ok'
