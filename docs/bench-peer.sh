#!/usr/bin/env bash
# docs/bench-peer.sh: stripe-sync-engine (supabase's Stripe-webhooks-to-
# Postgres library, the peer issue 13 compares ingest with), installed from
# npm into a temporary folder and run on loopback as its README tells a
# user: StripeSync.processWebhook on the raw body in a Node web server (the
# shape of the fastify app its repository ships, apps/node-fastify), its
# migrations applied, a PostgreSQL of its own in the temporary folder, and
# stripe-mock (./bin) for the Stripe API calls it makes. Nothing of it is
# kept in this repository.
#
# docs/bench-corpus.sh sources this file for peer_setup, peer_start,
# peer_stop and peer_teardown. Run alone it measures one round:
#
#   STRIPE_WEBHOOK_SECRET=whsec_… bash docs/bench-peer.sh [COUNT]
#
# which sends COUNT (default 20000) events of the real corpus at 32
# connections with `creditdesk simulate --corpus` and prints its line.
# Without Node 20+, npm or PostgreSQL's initdb/pg_ctl it says which is
# missing and exits 0 (skipped).

PEER_PACKAGE=@supabase/stripe-sync-engine@0.48.5
PEER_DEPS=(stripe@23.1.0 fastify@5.12.8)

# peer_check sets PEER_MISSING to what this machine lacks to run the peer
# (empty: all there) and PG_BIN to the folder of PostgreSQL's binaries.
peer_check() {
  local missing=()
  PG_BIN=
  if command -v node >/dev/null; then
    [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || missing+=("Node 20+ (found $(node --version))")
  else
    missing+=("node")
  fi
  command -v npm >/dev/null || missing+=("npm")
  for d in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")" /usr/local/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { PG_BIN=$d; break; }
  done
  [ -n "$PG_BIN" ] || missing+=("PostgreSQL (initdb, pg_ctl, postgres)")
  command -v psql >/dev/null || missing+=("psql")
  [ -x ./bin/stripe-mock ] || missing+=("./bin/stripe-mock (make stripe-mock)")
  PEER_MISSING="${missing[*]}"
}

peer_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# as_pg runs a command as the postgres user when this shell is root
# (PostgreSQL refuses to run as root), else as this user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "${PEER_PG_USER:-postgres}" -- "$@"; else "$@"; fi
}

# peer_setup DIR: npm install into DIR/peer, the server script, a fresh
# PostgreSQL cluster on a loopback port (default settings: fsync and
# synchronous_commit on, so an answered webhook is durable, as serve's
# are), and stripe-mock. Sets PEER_DIR, PEER_PG_PORT, PEER_MOCK_URL.
peer_setup() {
  PEER_DIR=$1/peer
  mkdir -p "$PEER_DIR"
  (cd "$PEER_DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "$PEER_PACKAGE" "${PEER_DEPS[@]}" >npm.log 2>&1) ||
    { echo "npm install $PEER_PACKAGE failed:"; tail -5 "$PEER_DIR/npm.log"; return 1; }
  peer_write_server "$PEER_DIR/server.cjs"

  mkdir -p "$PEER_DIR/pg"
  if [ "$(id -u)" = 0 ]; then chown "${PEER_PG_USER:-postgres}" "$PEER_DIR/pg" && chmod 755 "$1" "$PEER_DIR"; fi
  as_pg "$PG_BIN/initdb" -D "$PEER_DIR/pg/data" -U postgres -A trust --no-sync >"$PEER_DIR/initdb.log" 2>&1 ||
    { echo "initdb failed:"; tail -5 "$PEER_DIR/initdb.log"; return 1; }
  PEER_PG_PORT=$(peer_free_port)
  as_pg "$PG_BIN/pg_ctl" -D "$PEER_DIR/pg/data" -l "$PEER_DIR/pg/log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PEER_PG_PORT -c unix_socket_directories=$PEER_DIR/pg" start >/dev/null ||
    { echo "PostgreSQL did not start:"; tail -5 "$PEER_DIR/pg/log"; return 1; }

  ./bin/stripe-mock -http-addr 127.0.0.1: -https-addr 127.0.0.1: >"$PEER_DIR/stripe-mock.log" 2>&1 &
  PEER_MOCK_PID=$!
  PEER_MOCK_URL=
  for _ in $(seq 150); do
    PEER_MOCK_URL=$(sed -n 's/^Listening for HTTP at address: *//p' "$PEER_DIR/stripe-mock.log" | head -1)
    [ -n "$PEER_MOCK_URL" ] && break
    sleep 0.1
  done
  [ -n "$PEER_MOCK_URL" ] || { echo "stripe-mock did not start:"; tail -5 "$PEER_DIR/stripe-mock.log"; return 1; }
  PEER_MOCK_URL=http://$PEER_MOCK_URL
  echo "peer: $PEER_PACKAGE ($(cd "$PEER_DIR" && node -p 'require("./node_modules/@supabase/stripe-sync-engine/package.json").version' 2>/dev/null || echo '?')), Node $(node --version), $("$PG_BIN/postgres" --version), stripe-mock at $PEER_MOCK_URL"
}

# peer_start PORT: a fresh database, the server on 127.0.0.1:PORT (it
# applies the migrations before it listens). Sets PEER_PID; its webhook
# URL is http://127.0.0.1:PORT/webhooks.
peer_start() {
  local port=$1
  PGOPTIONS='-c client_min_messages=warning' psql -q -h 127.0.0.1 -p "$PEER_PG_PORT" -U postgres -d postgres -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench' >/dev/null || return 1
  (cd "$PEER_DIR" && DATABASE_URL="postgres://postgres@127.0.0.1:$PEER_PG_PORT/bench" PORT=$port \
    STRIPE_SECRET_KEY=sk_test_bench STRIPE_MOCK_URL=$PEER_MOCK_URL exec node server.cjs >"$PEER_DIR/server.log" 2>&1) &
  PEER_PID=$!
  for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "stripe-sync-engine did not start:"; tail -5 "$PEER_DIR/server.log"; return 1
}

# peer_stop: the server stops and prints what it did (webhooks answered,
# failed ones by error), then the rows the database holds.
peer_stop() {
  kill -TERM "$PEER_PID" 2>/dev/null || true
  wait "$PEER_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$PEER_PID" 2>/dev/null || break; sleep 0.1; done
  grep '^peer:' "$PEER_DIR/server.log" || tail -3 "$PEER_DIR/server.log"
  psql -At -h 127.0.0.1 -p "$PEER_PG_PORT" -U postgres -d bench -c \
    "select 'peer: rows stored: ' || string_agg(t || ' ' || n, ', ' order by t) from (select relname t, n_live_tup n from pg_stat_user_tables where schemaname = 'stripe' and n_live_tup > 0) s" 2>/dev/null || true
}

peer_teardown() {
  if [ -n "${PEER_PID:-}" ]; then kill -TERM "$PEER_PID" 2>/dev/null || true; fi
  if [ -n "${PEER_MOCK_PID:-}" ]; then kill "$PEER_MOCK_PID" 2>/dev/null || true; fi
  if [ -n "${PEER_PG_PORT:-}" ]; then as_pg "$PG_BIN/pg_ctl" -D "$PEER_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true; fi
}

# peer_write_server FILE: the web server around StripeSync. As the
# repository's fastify app does: the raw body of POST /webhooks kept as a
# Buffer, processWebhook(raw, Stripe-Signature), 400 with the error's
# message when it throws, else {received: true}. Differences, all in the
# peer's favour or neutral: no request logging (the app logs each request
# with pino), no swagger, and the library's Stripe client pointed at
# stripe-mock (StripeSync has no option for the API's address).
peer_write_server() {
  cat >"$1" <<'EOF'
'use strict'
const Fastify = require('fastify')
const Stripe = require('stripe')
const { StripeSync, runMigrations } = require('@supabase/stripe-sync-engine')

const env = process.env
const failures = new Map()
let answered = 0

async function main() {
  await runMigrations({ databaseUrl: env.DATABASE_URL, schema: 'stripe' })
  const sync = new StripeSync({
    poolConfig: { connectionString: env.DATABASE_URL, max: 10 },
    stripeSecretKey: env.STRIPE_SECRET_KEY,
    stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET,
  })
  if (env.STRIPE_MOCK_URL) {
    const u = new URL(env.STRIPE_MOCK_URL)
    sync.stripe = new Stripe(env.STRIPE_SECRET_KEY, { host: u.hostname, port: Number(u.port), protocol: 'http' })
  }
  const app = Fastify({ logger: false })
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => done(null, { raw: body }))
  app.get('/healthz', async () => ({ ok: true }))
  app.post('/webhooks', async (request, reply) => {
    answered++
    try {
      await sync.processWebhook(request.body.raw, request.headers['stripe-signature'])
    } catch (error) {
      const type = (() => { try { return JSON.parse(request.body.raw).type } catch { return '?' } })()
      const key = `${type}: ${error && error.message}`
      failures.set(key, (failures.get(key) || 0) + 1)
      return reply.code(400).send(`Webhook Error: ${error && error.message}`)
    }
    return reply.send({ received: true })
  })
  process.on('SIGTERM', async () => {
    await app.close()
    let failed = 0
    for (const n of failures.values()) failed += n
    console.log(`peer: ${answered} webhooks answered, ${failed} with 400`)
    for (const [k, n] of failures) console.log(`peer:   ${n}× ${k}`)
    process.exit(0)
  })
  await app.listen({ host: '127.0.0.1', port: Number(env.PORT) })
}

main().catch((err) => { console.error(err); process.exit(1) })
EOF
}

# Run alone: one round against the peer.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  peer_check
  if [ -n "$PEER_MISSING" ]; then echo "== stripe-sync-engine: skipped, this machine lacks: $PEER_MISSING"; exit 0; fi
  : "${STRIPE_WEBHOOK_SECRET:=whsec_bench_peer_$(date +%s)}"
  export STRIPE_WEBHOOK_SECRET
  BIN=./bin/creditdesk
  [ -x "$BIN" ] || go build -o "$BIN" .
  work=$(mktemp -d)
  trap 'peer_teardown; rm -rf "$work"' EXIT
  peer_setup "$work"
  port=$(peer_free_port)
  peer_start "$port"
  "$BIN" simulate --corpus "${CORPUS:-../shared/fixtures/stripe-events-2020}" --count "${1:-20000}" --concurrency 32 \
    --url "http://127.0.0.1:$port/webhooks" || true
  peer_stop
fi
