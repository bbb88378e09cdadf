#!/usr/bin/env bash
# Part of make bench (docs/bench.sh), or alone: bash docs/bench-appwebhook.sh.
# Issue 14: pack checkouts at 1,000 events/s with one app endpoint on
# loopback (internal/appwebhook/benchreceiver, verifying every signature
# with the Standard Webhooks library), against the same load with no
# endpoint, alternately in one sitting; then the same pair at max rate for
# the ingest ratio. Loopback only, bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./bin/creditdesk
[ -x "$BIN" ] || go build -o "$BIN" .
RECV=./bin/benchreceiver
go build -o "$RECV" ./internal/appwebhook/benchreceiver
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
url="http://127.0.0.1:$port/api/stripe/webhook"
export STRIPE_WEBHOOK_SECRET=whsec_bench_$(date +%s)
export STRIPE_SECRET_KEY=
export CREDITDESK_CONFIG="$PWD/creditdesk.example.toml"
runs=${RUNS:-3}

# one WITH COUNT SIMULATE-ARGS...: a fresh serve and database; WITH=1 adds
# one endpoint and waits for its messages (two a checkout: purchase.completed
# and credits.granted), at most 60 s after the load.
one() {
  local with=$1 count=$2; shift 2
  local db="$work/$RANDOM$RANDOM.db"
  local env=()
  if [ "$with" = 1 ]; then
    "$BIN" appwebhook secret --db "$db" 2>/dev/null | tail -1 >"$work/secret"
    rm -f "$work/rport"
    "$RECV" --secret-file "$work/secret" --n $((2 * count)) --limit 120s --port-file "$work/rport" >"$work/recv.out" &
    local rpid=$!
    for _ in $(seq 100); do [ -s "$work/rport" ] && break; sleep 0.05; done
    env=(CREDITDESK_APP_WEBHOOK_URL="http://127.0.0.1:$(cat "$work/rport")/hooks" CREDITDESK_APP_WEBHOOK_ALLOW_PRIVATE=true)
  fi
  (cd "$work" && exec env "${env[@]}" "$OLDPWD/$BIN" serve --db "$db" --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
  local pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  "$BIN" simulate --url "$url" --load --count "$count" "$@"
  if [ "$with" = 1 ]; then
    wait "$rpid" || true
    cat "$work/recv.out"
  fi
  kill -TERM "$pid"; wait "$pid" || true
  "$BIN" verify --db "$db" >/dev/null
}

echo "== app webhooks: 10,000 pack checkouts at 1,000/s, 64 connections; no endpoint, then one on loopback ($runs runs)"
for i in $(seq "$runs"); do
  echo "-- run $i: no endpoint"; one 0 10000 --rate 1000 --concurrency 64
  echo "-- run $i: one endpoint"; one 1 10000 --rate 1000 --concurrency 64
done
echo "== app webhooks: 30,000 pack checkouts at max rate, 32 connections; no endpoint, then one ($runs runs)"
for i in $(seq "$runs"); do
  echo "-- run $i: no endpoint"; one 0 30000 --rate 0 --concurrency 32
  echo "-- run $i: one endpoint"; one 1 30000 --rate 0 --concurrency 32
done
