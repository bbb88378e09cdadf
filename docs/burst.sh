#!/usr/bin/env bash
# burst.sh BIN SIMULATE-ARGS...: one fresh `BIN serve` on loopback with its
# metrics listener, one `BIN simulate --load` against it, and docs/burst.py
# watching the backlog and resident memory until every event is applied.
# Prints the simulator's line and the watcher's line. Used by docs/bench.sh;
# run it alone to compare two binaries in one sitting (see PERFORMANCE.md).
set -euo pipefail
BIN=$(realpath "$1"); shift
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport); mport=$(freeport)
export STRIPE_WEBHOOK_SECRET=whsec_burst_$RANDOM$RANDOM STRIPE_SECRET_KEY=
(cd "$work" && exec "$BIN" serve --db "$work/b.db" --addr "127.0.0.1:$port" --metrics-addr "127.0.0.1:$mport" >"$work/serve.log" 2>&1) &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
python3 "$here/burst.py" "http://127.0.0.1:$mport/metrics" "$pid" "$work" >"$work/watch" &
watch=$!
"$BIN" simulate --url "http://127.0.0.1:$port/api/stripe/webhook" --load "$@"
touch "$work/stop"
wait "$watch" || true
cat "$work/watch"
kill -TERM "$pid"; wait "$pid" || true
"$BIN" verify --db "$work/b.db" >/dev/null || { echo "verify FAILED"; exit 1; }
ls -l "$work/b.db" | awk '{printf "db_bytes=%d\n", $5}'
