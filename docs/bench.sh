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
export CREDITDESK_CONFIG="$PWD/creditdesk.example.toml"  # plans for the flows scenario

# scenario NAME SIMULATE-ARGS...: a fresh serve and database for each, so
# one scenario's backlog does not weigh on the next.
scenario() {
  local name=$1; shift
  local db="$work/$RANDOM.db"
  echo "== $name"
  (cd "$work" && exec "$OLDPWD/$BIN" serve --db "$db" --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
  local pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  "$BIN" simulate --url "$url" "$@"
  kill -TERM "$pid"; wait "$pid" || true
  "$BIN" verify --db "$db"
}

# Issue 13: the processor keeps up. Each line pair is one fresh serve: the
# simulator's line, then the watcher's (largest backlog, when the sender
# finished, when the backlog was back to 0, peak RSS). ack ÷ (ack + drain) =
# sender_done ÷ backlog_zero. BASELINE=path/to/older/creditdesk runs the
# same against that binary, alternately, so the two compare in one sitting.
runs=${RUNS:-3}
echo "== burst: 30,000 pack checkouts at max rate, 32 connections ($runs runs${BASELINE:+, alternating with $BASELINE})"
for i in $(seq "$runs"); do
  echo "-- run $i: this build"; bash docs/burst.sh "$BIN" --count 30000 --rate 0 --concurrency 32
  [ -n "${BASELINE:-}" ] && { echo "-- run $i: baseline"; bash docs/burst.sh "$BASELINE" --count 30000 --rate 0 --concurrency 32; }
done
echo "== sustained 1,000 events/s for 10 s, 64 connections, 10 runs: p99 ack and largest backlog"
for i in $(seq 10); do
  echo "-- run $i"; bash docs/burst.sh "$BIN" --count 10000 --rate 1000 --concurrency 64
done

scenario "max throughput: 50,000 signed pack checkouts, 64 connections" --load --count 50000 --concurrency 64
# The same load with `creditdesk backup` looping through the admin socket
# meanwhile: ingest goes on during a backup (target: within 15% of the
# plain run above; compare the two "events/s" lines of this run).
backup_loop() {
  local db=$1
  local n=0
  while [ -S "$db.sock" ] || [ $n -lt 50 ]; do
    [ -S "$db.sock" ] && "$BIN" backup "$work/bk-$n.db" --db "$db" >/dev/null 2>&1 && rm -f "$work/bk-$n.db" && echo backup >>"$work/backups"
    n=$((n + 1)); sleep 0.2
  done
}
echo "== max throughput with backups running: 50,000 signed pack checkouts, 64 connections, backup after backup"
db="$work/backup-bench.db"
: >"$work/backups"
(cd "$work" && exec "$OLDPWD/$BIN" serve --db "$db" --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
backup_loop "$db" &
loop=$!
"$BIN" simulate --url "$url" --load --count 50000 --concurrency 64
kill "$loop" 2>/dev/null || true
echo "backups taken during the run: $(wc -l <"$work/backups")"
kill -TERM "$pid"; wait "$pid" || true
"$BIN" verify --db "$db"

scenario "fixed rate: 1,000 events/s for 20 s (open loop; latency from each event's slot)" --load --rate 1000 --count 20000 --concurrency 64
scenario "whole flows (plans, renewals out of order, refunds, redeliveries): 5,000 events" --count 5000 --concurrency 16

if command -v wrk >/dev/null; then
  echo "== app API reads with wrk (64 connections, 8 s): GET /api/users/{id}"
  db="$work/api.db"
  key=$("$BIN" apikey create bench --db "$db" | tail -1)
  "$BIN" grant u1 100000 --reason bench --db "$db" >/dev/null
  (cd "$work" && CREDITDESK_API_RATE=100000000/1s exec "$OLDPWD/$BIN" serve --db "$db" --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
  pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c64 -d8s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/users/u1" | grep -E 'Latency|Requests/sec|Non-2xx'
  kill -TERM "$pid"; wait "$pid" || true
else
  echo "== (install wrk, e.g. apt-get install wrk, to measure API reads without a Go client on the same cores)"
fi

bash docs/bench-appwebhook.sh

# Issue 13's ingest targets, measured as the issue did: the real corpus from
# one load generator process to a trivial handler, serve and
# stripe-sync-engine (Node + PostgreSQL), each its own process.
bash docs/bench-corpus.sh
echo "== the same in one Go process (client and server together; not the issue's method), 3 rounds"
go test -run '^$' -bench CorpusIngest -benchtime 3x ./webhook/ | grep -E '^(Benchmark|ok|PASS)'
echo "== app API spends while webhooks arrive at 1,000/s"
go test -run '^$' -bench APISpendWithWebhooks -benchtime 40000x -count 3 ./webhook/ | grep -E '^(Benchmark|ok|PASS)'

echo "== Go benchmarks"
go test -run '^$' -bench . -skip 'CorpusIngest|APISpendWithWebhooks' -benchtime 2s ./storage/ ./billing/ ./webhook/ | grep -E '^(Benchmark|ok|PASS)'

echo "== ingest with 8 SSH consoles attached, one of them never reading (10,000 events a round)"
go test -run '^$' -bench IngestWithSSHSessions -benchtime 3x ./internal/sshconsole/ | grep -E '^(Benchmark|ok|PASS)'

echo "== console first frame on a store of 100,000 users and 1,000,000 events"
echo "   (the store is seeded once into bin/bigstore.db, a few minutes)"
CREDITDESK_BIGSTORE="$PWD/bin/bigstore.db" go test -count=1 -run 'FirstFrameOnBigStore' -v -timeout 30m ./internal/cli/ | grep -E 'BIGSTORE|seeded|run [0-9]|FAIL|ok'
