#!/usr/bin/env bash
# docs/bench-corpus.sh: issue 13's ingest measure as the issue took it. The
# real corpus (stripe-events-2020: 71 payloads, 4.9 KB on average), each
# event with a fresh id, signed, sent at 32 connections by one load
# generator (`creditdesk simulate --corpus`, its own process) to each of
#   sink  internal/benchsink: reads the body, answers 200 (the ceiling)
#   floor internal/benchsink -log: checks the signature, appends the body
#         to a file, answers after one fsync a group (what any durable
#         receiver pays before its own work: dedupe, index, apply)
#   serve `creditdesk serve`, a fresh database each run, verify after
#   peer  stripe-sync-engine on Node + PostgreSQL (docs/bench-peer.sh;
#         skipped, saying so, without Node, npm or PostgreSQL)
# in rounds, the order rotating each round so drift in the machine's load
# falls on each in turn; then the rates and the ratios serve ÷ sink and
# serve ÷ peer per round. Generator and server share the machine's cores.
#
#   bash docs/bench-corpus.sh             # 3 rounds of 20,000 events each
#   ROUNDS=5 COUNT=30000 CORPUS=DIR bash docs/bench-corpus.sh
#   BASELINE=path/to/older/creditdesk bash docs/bench-corpus.sh   # adds it
#                                      # as "base" to each round, serve ÷ base
#
# docs/bench.sh (make bench) runs it. Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./bin/creditdesk}
[ -x "$BIN" ] || go build -o "$BIN" .
BIN=$(realpath "$BIN")
if [ -n "${BASELINE:-}" ]; then
  [ -x "$BASELINE" ] || { echo "BASELINE=$BASELINE is not an executable creditdesk"; exit 2; }
  BASELINE=$(realpath "$BASELINE")
fi
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-20000}
CORPUS=${CORPUS:-../shared/fixtures/stripe-events-2020}
if [ ! -d "$CORPUS" ]; then
  echo "== corpus ingest: skipped, no corpus at $CORPUS (set CORPUS=DIR: one Stripe event a JSON file)"
  exit 0
fi
CORPUS=$(cd "$CORPUS" && pwd)

. docs/bench-peer.sh
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; peer_teardown; rm -rf "$work"' EXIT
export STRIPE_WEBHOOK_SECRET=whsec_bench_corpus_$(date +%s)
export STRIPE_SECRET_KEY=
go build -o "$work/benchsink" ./internal/benchsink

targets="sink floor serve${BASELINE:+ base}"
peer_check
if [ -n "$PEER_MISSING" ]; then
  echo "== stripe-sync-engine: skipped, this machine lacks: $PEER_MISSING"
elif peer_setup "$work"; then
  targets="$targets peer"
else
  echo "== stripe-sync-engine: skipped, it could not be set up (above)"
fi

wait_healthy() { # URL PID
  for _ in $(seq 300); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# cpu_seconds PID: user + system CPU the process has used so far.
cpu_seconds() { awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo "?"; }
# pg_cpu_seconds: the same, summed over the peer's PostgreSQL processes.
pg_cpu_seconds() {
  local pids
  pids=$(pgrep -f -- "-D $PEER_DIR/pg/data" || true; for p in $(pgrep -f -- "-D $PEER_DIR/pg/data"); do pgrep -P "$p"; done)
  for p in $pids; do cat "/proc/$p/stat" 2>/dev/null; done | awk -v t="$(getconf CLK_TCK)" '{s += $14 + $15} END {printf "%.1f", s / t}'
}

# measure TARGET ROUND: one run; appends "TARGET ROUND RATE LOAD" to results.
measure() {
  local target=$1 round=$2 port pid url line rate load
  port=$(peer_free_port)
  case $target in
  sink)
    "$work/benchsink" -addr "127.0.0.1:$port" &
    pid=$!
    url="http://127.0.0.1:$port/api/stripe/webhook"
    wait_healthy "http://127.0.0.1:$port/healthz" "$pid" || { echo "benchsink did not start"; return 1; }
    ;;
  floor)
    rm -f "$work/floor.log"
    "$work/benchsink" -addr "127.0.0.1:$port" -log "$work/floor.log" &
    pid=$!
    url="http://127.0.0.1:$port/api/stripe/webhook"
    wait_healthy "http://127.0.0.1:$port/healthz" "$pid" || { echo "benchsink -log did not start"; return 1; }
    ;;
  serve | base)
    local bin=$BIN
    [ "$target" = base ] && bin=$BASELINE
    rm -f "$work/serve.db"
    (cd "$work" && exec "$bin" serve --db "$work/serve.db" --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
    pid=$!
    url="http://127.0.0.1:$port/api/stripe/webhook"
    wait_healthy "http://127.0.0.1:$port/healthz" "$pid" || { echo "serve did not start:"; tail -3 "$work/serve.log"; return 1; }
    ;;
  peer)
    peer_start "$port" || return 1
    pid=$PEER_PID
    url="http://127.0.0.1:$port/webhooks"
    ;;
  esac
  load=$(cut -d' ' -f1 /proc/loadavg)
  local pg0=0
  [ "$target" = peer ] && pg0=$(pg_cpu_seconds)
  # The subshell's `times` prints its children's CPU: the generator's.
  out=$( ("$BIN" simulate --corpus "$CORPUS" --count "$COUNT" --concurrency 32 --url "$url" 2>&1 || true; times) )
  line=$(head -1 <<<"$out")
  echo "-- round $round, $target (load $load): $line"
  echo "   CPU seconds: generator $(tail -1 <<<"$out" | awk '{gsub(/[ms]/, " "); printf "%.1f", $1 * 60 + $2 + $3 * 60 + $4}'), server $(cpu_seconds "$pid")$([ "$target" = peer ] && echo " (node) + $(awk -v a="$(pg_cpu_seconds)" -v b="$pg0" 'BEGIN {printf "%.1f", a - b}') (PostgreSQL)")"
  rate=$(sed -n 's/^sent [0-9]* in [0-9.]*s: \([0-9]*\) events\/s.*/\1/p' <<<"$line" | head -1)
  case $line in
  *", 200×$COUNT" | *", 200×$COUNT,"*) ;;
  *) rate= ; failed=$((failed + 1)); echo "   not every event was acknowledged: this run counts as failed" ;;
  esac
  case $target in
  sink | floor) kill -TERM "$pid"; wait "$pid" 2>/dev/null || true ;;
  serve | base)
    kill -TERM "$pid"; wait "$pid" || true
    local verdict
    verdict=$("$([ "$target" = base ] && echo "$BASELINE" || echo "$BIN")" verify --db "$work/serve.db" 2>&1) || { verdict="verify FAILED: $verdict"; failed=$((failed + 1)); }
    echo "   $verdict"
    ;;
  peer) peer_stop >"$work/peer.out"; sed 's/^/   /' "$work/peer.out" ;;
  esac
  echo "$target $round ${rate:-0} $load" >>"$work/results"
}

# The disk's fsync latency in this sitting: serve answers each event after
# its group's fsync, and PostgreSQL each commit after its WAL flush, so a
# slow shared disk bounds both (at most 32 connections ÷ one fsync).
python3 - "$work" <<'EOF'
import os, sys, time, statistics
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
lat = []
for i in range(100):
    os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
    t = time.perf_counter(); os.fdatasync(fd); lat.append(time.perf_counter() - t)
os.close(fd); os.unlink(path)
lat.sort()
print(f"== disk: fdatasync of a 4 KiB write where serve's database is: p50 {statistics.median(lat)*1e3:.2f} ms, p90 {lat[89]*1e3:.2f} ms (100 in a row)")
EOF

failed=0
set -- $targets
n=$#
echo "== corpus ingest: $COUNT events of $CORPUS at 32 connections, $ROUNDS rounds of: $targets (order rotating)"
for round in $(seq "$ROUNDS"); do
  order=()
  for k in $(seq 0 $((n - 1))); do
    i=$(((k + round - 1) % n + 1))
    order+=("${!i}")
  done
  for target in "${order[@]}"; do measure "$target" "$round"; done
done

python3 - "$work/results" <<'EOF'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
rate = {(t, int(r)): float(v) for t, r, v, _ in rows}
rounds = sorted({int(r) for _, r, _, _ in rows})
targets = [t for t in ("sink", "floor", "serve", "base", "peer") if any(k[0] == t for k in rate)]
def ratio(a, b, r):
    x, y = rate.get((a, r), 0), rate.get((b, r), 0)
    return x / y if x and y else None
print("== corpus ingest, events/s per round (" + ", ".join(targets) + ") and ratios")
for r in rounds:
    parts = [f"{t} {rate.get((t, r), 0):,.0f}" for t in targets]
    for a, b in (("floor", "sink"), ("serve", "sink"), ("serve", "floor"), ("serve", "peer"), ("serve", "base")):
        if b in targets:
            q = ratio(a, b, r)
            parts.append(f"{a}÷{b} " + (f"{q:.2f}" if q else "n/a"))
    print(f"   round {r}: " + ", ".join(parts))
for t in targets:
    v = [rate[(t, r)] for r in rounds if rate.get((t, r))]
    if v:
        print(f"   {t}: median {statistics.median(v):,.0f}, range {min(v):,.0f}–{max(v):,.0f} ({len(v)} runs)")
for a, b, want in (("floor", "sink", None), ("serve", "sink", 0.50), ("serve", "floor", None), ("serve", "peer", 5.0), ("serve", "base", None)):
    if b in targets:
        q = [x for x in (ratio(a, b, r) for r in rounds) if x]
        if q:
            goal = f"; target ≥ {want:g}: met in {sum(x >= want for x in q)} of {len(q)} rounds" if want else ""
            print(f"   {a}÷{b}: median {statistics.median(q):.2f}, range {min(q):.2f}–{max(q):.2f}{goal}")
loads = [float(l) for _, _, _, l in rows]
print(f"   load average (1 min) at the runs' starts: {min(loads):.1f}–{max(loads):.1f}")
EOF
if [ "$failed" -gt 0 ]; then echo "== corpus ingest: $failed runs FAILED (above)"; exit 1; fi
