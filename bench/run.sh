#!/usr/bin/env bash
# orderdesk's benchmark (issue 9): the fixed-JSON ceiling and orderdesk's scenarios, measured by the
# same load generator in the same run, so every figure is also a ratio to that ceiling.
#
#   bench/run.sh                      release build; server on CPU 0, load on CPU 1; table on stdout
#   bench/run.sh --write [--label T]  the same, and append the run to docs/benchmarks.md
#   bench/run.sh --smoke              the debug binaries `cargo test --workspace` built, ~1 s per
#                                     scenario, no pinning; exit 1 when a scenario errs or serves nothing
#
# Environment: DURATION (per scenario, default 10s; smoke 1s), WARMUP (default 2s; smoke 0s),
# CONNECTIONS (default 32; smoke 8), WS_SUBSCRIBERS (default 1000; smoke 20),
# SERVER_RUST_LOG (the server's log filter; default: its own production default), DATABASE (a
# SQLite file already seeded, e.g. by `orderdesk seed --orders N`, copied and used instead of the
# demo data; bench/analytics.sh caches such files under $CARGO_TARGET_DIR/kpi-bench/),
# WS_IDLE (idle subscribed websockets, default 10000; smoke 20; 0: skipped), WS_BIG (fan-out of one change to
# that many subscribers, default 10000; smoke and 0: skipped), WS_TARGETED and WS_TARGETED_RATE
# (subscribers on one order each, changes/s spread over them; default 10000 at 1000/s with a
# DATABASE, which has the orders, else 80 at 20/s; smoke 10 at 10/s),
# POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres: also run orderdesk's scenarios
# on a fresh PostgreSQL database created there, and a change on one instance delivered to the
# subscribers of a second instance).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_script=bench/run.sh

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

smoke=0 write=0 label="Run"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --write) write=1 ;;
    --label) label="${2:?--label needs a text}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ "$smoke" -eq 1 ] && [ "$write" -eq 1 ]; then
  echo "bench/run.sh: a smoke run is not a measurement; --write is for full runs" >&2
  exit 2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orderdesk-ci-target}"
load_at_start=$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo "?")

if [ "$smoke" -eq 1 ]; then
  profile=debug
  DURATION="${DURATION:-1s}" WARMUP="${WARMUP:-0s}"
  CONNECTIONS="${CONNECTIONS:-8}" WS_SUBSCRIBERS="${WS_SUBSCRIBERS:-20}"
  WS_IDLE="${WS_IDLE:-20}" WS_BIG="${WS_BIG:-0}"
  WS_TARGETED="${WS_TARGETED:-10}" WS_TARGETED_RATE="${WS_TARGETED_RATE:-10}"
  pin_server=() pin_load=()
else
  profile=release
  DURATION="${DURATION:-10s}" WARMUP="${WARMUP:-2s}"
  CONNECTIONS="${CONNECTIONS:-32}" WS_SUBSCRIBERS="${WS_SUBSCRIBERS:-1000}"
  WS_IDLE="${WS_IDLE:-10000}" WS_BIG="${WS_BIG:-10000}"
  if [ -n "${DATABASE:-}" ]; then
    WS_TARGETED="${WS_TARGETED:-10000}" WS_TARGETED_RATE="${WS_TARGETED_RATE:-1000}"
  else
    # The demo data has about a hundred orders that can be held and resumed.
    WS_TARGETED="${WS_TARGETED:-80}" WS_TARGETED_RATE="${WS_TARGETED_RATE:-20}"
  fi
  command -v taskset >/dev/null || { echo "bench/run.sh: taskset (util-linux) is needed to pin server and load" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "bench/run.sh: needs 2 CPUs (server on one, load on the other)" >&2; exit 1; }
  pin_server=(taskset -c 0) pin_load=(taskset -c 1)
  echo "== building release binaries" >&2
  nice cargo build --release -p api -p bench >&2
fi

bin="$CARGO_TARGET_DIR/$profile"
for tool in orderdesk loadgen baseline; do
  if [ ! -x "$bin/$tool" ]; then
    echo "bench/run.sh: $bin/$tool is missing: run \`cargo test --workspace\` (smoke) or drop --smoke" >&2
    exit 1
  fi
done

# Thousands of websockets need as many file descriptors, in the server and the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d "${TMPDIR:-/tmp}/orderdesk-bench.XXXXXX")
started_pids=()
failed=0
pg_database=""
cleanup() {
  local status=$?
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$pg_database" ]; then
    psql "$POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS $pg_database" >/dev/null 2>&1 || true
  fi
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    echo "bench/run.sh: logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# A fresh secret per run: the server and `orderdesk token` must share it, and nothing else should.
export ORDERDESK_JWT_SECRET="bench-$(date +%s%N)-$$-not-a-production-secret"
database="sqlite://$work/bench.db"
if [ -n "${SERVER_RUST_LOG:-}" ]; then export RUST_LOG="$SERVER_RUST_LOG"; else unset RUST_LOG; fi

# Starts a server in the background ($1: its stdout file, then the command); waits until it
# prints "... listening on http://ADDR" and sets $url and $pid.
start() {
  local out=$1; shift
  # The files exist before the server does: the first read below must not race the shell's
  # redirection in the child (a missing file fails `sed`, and `set -e` ends the run).
  : >"$out"
  "$@" >"$out" 2>"$out.log" &
  pid=$!
  started_pids+=("$pid")
  await_server "$out" "$out.log" || exit 1
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${started_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  started_pids=("${keep[@]}")
}

loadgen() { "${pin_load[@]}" "$bin/loadgen" "$@"; }

# One scenario: $1 label, the rest loadgen arguments. The human summary goes to stderr as it
# comes; the JSON line is kept for the table.
results="$work/results.tsv"
: >"$results"
scenario() {
  local name=$1; shift
  echo "== $name" >&2
  local line
  if line=$(loadgen --duration "$DURATION" --warmup "$WARMUP" --server-pid "$pid" \
    --label "$name" --json "$@" 2>"$work/scenario.err"); then
    cat "$work/scenario.err" >&2
    line=$(printf '%s\n' "$line" | tail -n 1)
  else
    cat "$work/scenario.err" >&2
    line='{"ok":0,"errors":1,"rps":0,"failed":true}'
  fi
  printf '%s\t%s\n' "$name" "$line" >>"$results"
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "bench/run.sh: the server died during \"$name\"; its log:" >&2
    tail -n 30 "$work"/*.out.log >&2
    failed=1
    exit 1
  fi
}

if [ -n "${DATABASE:-}" ]; then
  # The scenarios write (transitions, new orders): they run on a copy.
  [ -f "$DATABASE" ] || { echo "bench/run.sh: DATABASE=$DATABASE is not a file" >&2; exit 1; }
  echo "== copying $DATABASE ($profile binaries, $work)" >&2
  cp "$DATABASE" "$work/bench.db"
  data_note="the pre-seeded database $(basename "$DATABASE") ($(du -m "$DATABASE" | cut -f 1) MB)"
else
  echo "== seeding demo data ($profile binaries, $work)" >&2
  "$bin/orderdesk" seed --demo --database "$database" >"$work/seed.log" 2>&1 \
    || { cat "$work/seed.log" >&2; exit 1; }
  data_note="the demo data (200 orders)"
fi

polling=", client polling"
# 1. The ceiling: plain axum, fixed 1 KiB JSON, on the same core the server will use.
start "$work/baseline.out" "${pin_server[@]}" "$bin/baseline" --bind 127.0.0.1:0
scenario "baseline: fixed 1 KiB JSON (plain axum)" \
  --url "$url/" --query '{ __typename }' --connections "$CONNECTIONS" --expect 'data.items.*.id'
# The same with the load generator polling instead of sleeping (`loadgen --spin`): on loopback,
# waking a sleeping client is part of the server's write. Rows named "client polling" are
# compared with this one.
scenario "baseline: fixed 1 KiB JSON (plain axum)$polling" \
  --url "$url/" --query '{ __typename }' --connections "$CONNECTIONS" --expect 'data.items.*.id' \
  --spin --threads 1
stop "$pid"

# 2. orderdesk, production mode (auth on every request, one JSON log line per request), SQLite
# synchronous=FULL (the default), rate limits raised far out of the way. The same scenarios run
# again on PostgreSQL when POSTGRES_URL is set; $1 is the database, $2 what the row names say.
serve() {
  start "$work/orderdesk$2.out" "${pin_server[@]}" "$bin/orderdesk" serve --bind 127.0.0.1:0 \
    --database "$1" --production \
    --mutations-per-minute 1000000000 --address-mutations-per-minute 1000000000
}
orderdesk_scenarios() {
local database=$1 on=$2
serve "$database" "$on"
graphql="$url/graphql"
token() { "$bin/orderdesk" token --email "$1" --database "$database" --ttl 2h 2>>"$work/token.log" | tail -n 1; }
rep_token=$(token rob.rep@orderdesk.test)
manager_token=$(token mia.manager@orderdesk.test)
ask() { local token=$1 query=$2 path=$3; loadgen --url "$graphql" --token "$token" --once --query "$query" --print "$path"; }
order_id=$(ask "$rep_token" '{ orders(first: 1) { nodes { id } } }' 'data.orders.nodes.0.id')
watched_order=$(ask "$rep_token" \
  '{ orders(first: 1, filter: { status: [CONFIRMED, IN_PRODUCTION, READY_TO_SHIP] }) { nodes { id } } }' \
  'data.orders.nodes.0.id')
customer_id=$(ask "$rep_token" '{ customers(first: 1) { nodes { id } } }' 'data.customers.nodes.0.id')
mapfile -t products < <(ask "$rep_token" '{ products(first: 5, filter: { active: true }) { nodes { id } } }' \
  'data.products.nodes.*.id')
[ "${#products[@]}" -eq 5 ] || { echo "bench/run.sh: expected 5 active products, got ${#products[@]}" >&2; exit 1; }
lines=""
for product in "${products[@]}"; do
  lines="$lines${lines:+, }{\"productId\": \"$product\", \"quantity\": \"3\"}"
done

scenario "order(id) with lines, customer, salesRep$on" \
  --url "$graphql" --token "$rep_token" --connections "$CONNECTIONS" \
  --query "$order_query" --variables "{\"id\": \"$order_id\"}" --expect data.order.lines.0.sku
order_rps=$(field "$(tail -n 1 "$results")" rps)
if [ -z "$on" ]; then
  scenario "order(id) with lines, customer, salesRep$polling" \
    --url "$graphql" --token "$rep_token" --connections "$CONNECTIONS" --spin --threads 1 \
    --query "$order_query" --variables "{\"id\": \"$order_id\"}" --expect data.order.lines.0.sku
fi
half_rate=$(awk -v r="${order_rps:-0}" 'BEGIN { h = r / 2; print (h < 1 ? 1 : h) }')
scenario "order(id) at half that rate (open loop)$on" \
  --url "$graphql" --token "$rep_token" --connections "$CONNECTIONS" --rate "$half_rate" \
  --query "$order_query" --variables "{\"id\": \"$order_id\"}" --expect data.order.lines.0.sku

# A manager's open orders (`list_query`): a full page of 50 (the demo rep alone has fewer open
# orders).
scenario "orders(first: 50, status filter) with customer, total$on" \
  --url "$graphql" --token "$manager_token" --connections "$CONNECTIONS" \
  --query "$list_query" --variables "$list_variables" --expect 'data.orders.nodes.49.customer.name'
if [ -z "$on" ]; then
  scenario "orders(first: 50, status filter) with customer, total$polling" \
    --url "$graphql" --token "$manager_token" --connections "$CONNECTIONS" --spin --threads 1 \
    --query "$list_query" --variables "$list_variables" --expect 'data.orders.nodes.49.customer.name'
fi

# The manager sees the whole team's orders: enough for every connection to own distinct ones.
scenario "transitionOrder hold/resume, distinct orders$on" \
  --url "$graphql" --token "$manager_token" --connections "$CONNECTIONS" --hold-resume

scenario "createOrder, 5 lines, idempotency key$on" \
  --url "$graphql" --token "$rep_token" --connections "$CONNECTIONS" --unique-var key \
  --query 'mutation Create($key: String, $input: CreateOrderInput!) {
    createOrder(idempotencyKey: $key, input: $input) { id number status version total { amount currency } } }' \
  --variables "{\"input\": {\"customerId\": \"$customer_id\", \"requestedDate\": \"2031-03-01\", \"lines\": [$lines]}}" \
  --expect data.createOrder.id

scenario "orderStatusChanged fan-out to $WS_SUBSCRIBERS subscribers$on" \
  --url "$graphql" --token "$rep_token" --ws "$WS_SUBSCRIBERS" --ws-order "$watched_order" \
  --ws-interval 100ms
}

orderdesk_scenarios "$database" ""

# Websockets by the thousand, on SQLite only (the database is not what they measure).
if [ "$WS_IDLE" -gt 0 ]; then
  scenario "idle: $WS_IDLE subscribed websockets" \
    --url "$graphql" --token "$rep_token" --ws-idle "$WS_IDLE" --ws-order "$watched_order"
fi
if [ "$WS_BIG" -gt 0 ]; then
  # One change a second: each change's spread over all subscribers, not a backlog.
  scenario "orderStatusChanged fan-out to $WS_BIG subscribers" \
    --url "$graphql" --token "$rep_token" --ws "$WS_BIG" --ws-order "$watched_order" --ws-interval 1s
fi
admin_token=$(token admin@orderdesk.test)
scenario "targeted: $WS_TARGETED_RATE changes/s over $WS_TARGETED subscribers, one order each" \
  --url "$graphql" --token "$admin_token" --ws-targeted "$WS_TARGETED" \
  --ws-rate "$WS_TARGETED_RATE" --timeout 5s
# The same changes at the same rate with no subscriber: what the changes alone cost there. At a
# low rate a change rarely shares its commit, so the closed-loop transitionOrder row (many
# changes per commit) understates it, and "beyond the change" would count the commit as delivery.
scenario "transitionOrder hold/resume at $WS_TARGETED_RATE/s (open loop, no subscribers)" \
  --url "$graphql" --token "$admin_token" --connections "$CONNECTIONS" \
  --rate "$WS_TARGETED_RATE" --hold-resume
stop "$pid"

if [ -n "${POSTGRES_URL:-}" ]; then
  command -v psql >/dev/null || { echo "bench/run.sh: POSTGRES_URL needs psql" >&2; exit 1; }
  pg_database="orderdesk_bench_$$"
  psql "$POSTGRES_URL" -q -c "CREATE DATABASE $pg_database" >/dev/null
  pg_url="${POSTGRES_URL%/*}/$pg_database"
  echo "== seeding demo data into PostgreSQL ($pg_database)" >&2
  "$bin/orderdesk" seed --demo --database "$pg_url" >"$work/seed-pg.log" 2>&1 \
    || { cat "$work/seed-pg.log" >&2; exit 1; }
  orderdesk_scenarios "$pg_url" " [PostgreSQL]"
  # A second instance on the same database: its subscribers hear of changes made on the first
  # through LISTEN/NOTIFY and the shared event log.
  first=$pid first_url=$graphql
  start "$work/orderdesk-b.out" "${pin_server[@]}" "$bin/orderdesk" serve --bind 127.0.0.1:0 \
    --database "$pg_url" --production \
    --mutations-per-minute 1000000000 --address-mutations-per-minute 1000000000
  second=$pid
  pid=$first
  scenario "two instances: change on A, 100 subscribers on B [PostgreSQL]" \
    --url "$first_url" --subscribe-url "$url/graphql" --token "$rep_token" --ws 100 \
    --ws-order "$watched_order" --ws-interval 100ms
  stop "$second"
  stop "$first"
fi

# The table. "x ceiling" compares work per server core: the baseline's server CPU per request
# divided by the scenario's (equal to the ratio of req/s when both saturate the server core, and
# still right when the load generator, not the server, set the baseline's pace). Without a CPU
# figure it falls back to the ratio of req/s. The websocket row counts deliveries.
baseline_line=$(head -n 1 "$results" | cut -f 2)
baseline_rps=$(field "$baseline_line" rps)
baseline_cpu=$(field "$baseline_line" server_cpu_us_per_req)
polling_cpu=$(field "$(sed -n 2p "$results" | cut -f 2)" server_cpu_us_per_req)
table="$work/table.md"
{
  echo "| scenario | req/s | server CPU µs/req | req/s per server core | x ceiling | p50 | p99 | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r name line; do
    rps=$(field "$line" rps) errors=$(field "$line" errors) ok=$(field "$line" ok)
    cpu=$(field "$line" server_cpu_us_per_req) p50=$(field "$line" p50_us) p99=$(field "$line" p99_us)
    mode=$(printf '%s\n' "$line" | sed -n 's/.*"mode":"\([a-z-]*\)".*/\1/p')
    base_cpu=$baseline_cpu
    case "$name" in *"$polling") base_cpu=$polling_cpu ;; esac
    awk -v name="$name" -v rps="${rps:-0}" -v base_rps="${baseline_rps:-0}" \
      -v base_cpu="${base_cpu:-null}" -v cpu="${cpu:-null}" -v p50="${p50:-}" -v p99="${p99:-}" \
      -v errors="${errors:-?}" -v mode="$mode" '
      function ms(us) { return us == "" ? "–" : sprintf("%.2f ms", us / 1000) }
      BEGIN {
        has_cpu = cpu != "null" && cpu > 0
        per_core = has_cpu ? sprintf("%.0f", 1e6 / cpu) : "–"
        ratio = "–"
        if (mode == "http" && has_cpu && base_cpu != "null" && base_cpu > 0)
          ratio = sprintf("%.3fx", base_cpu / cpu)
        else if (mode == "http" && base_rps > 0)
          ratio = sprintf("%.3fx (req/s)", rps / base_rps)
        unit = mode ~ /^ws/ ? " deliveries/s" : ""
        printf "| %s | %.0f%s | %s | %s | %s | %s | %s | %s |\n", name, rps, unit,
          (has_cpu ? sprintf("%.0f", cpu) : "–"), per_core, ratio, ms(p50), ms(p99), errors
      }'
    if [ "${errors:-1}" != "0" ] || [ "${ok:-0}" = "0" ]; then failed=1; fi
  done <"$results"
} >"$table"

# Against the issue's targets, each row found by its name.
row() { awk -F '\t' -v name="$1" '$1 == name { print $2; exit }' "$results" | { read -r line || true; field "${line:-}" "$2"; }; }
notes="$work/notes.md"
awk -v base="${baseline_cpu:-null}" -v o="$(row "order(id) with lines, customer, salesRep" server_cpu_us_per_req)" \
  -v half_p99="$(row "order(id) at half that rate (open loop)" p99_us)" \
  -v poll_base="${polling_cpu:-null}" -v poll_o="$(row "order(id) with lines, customer, salesRep$polling" server_cpu_us_per_req)" \
  -v poll_l="$(row "orders(first: 50, status filter) with customer, total$polling" server_cpu_us_per_req)" \
  -v l="$(row "orders(first: 50, status filter) with customer, total" server_cpu_us_per_req)" \
  -v moves="$(row "transitionOrder hold/resume, distinct orders" rps)" \
  -v moves_p99="$(row "transitionOrder hold/resume, distinct orders" p99_us)" \
  -v creates="$(row "createOrder, 5 lines, idempotency key" rps)" \
  -v ws_p99="$(row "orderStatusChanged fan-out to $WS_SUBSCRIBERS subscribers" p99_us)" -v subscribers="$WS_SUBSCRIBERS" \
  -v idle="$WS_IDLE" -v rss="$(row "idle: $WS_IDLE subscribed websockets" server_rss_kib_per_subscriber)" \
  -v big="$WS_BIG" -v big_p99="$(row "orderStatusChanged fan-out to $WS_BIG subscribers" p99_us)" \
  -v targeted="$WS_TARGETED" -v targeted_rate="$WS_TARGETED_RATE" \
  -v t_p99="$(row "targeted: $WS_TARGETED_RATE changes/s over $WS_TARGETED subscribers, one order each" p99_us)" \
  -v t_cpu="$(row "targeted: $WS_TARGETED_RATE changes/s over $WS_TARGETED subscribers, one order each" server_cpu_us_per_req)" \
  -v move_cpu="$(row "transitionOrder hold/resume at $WS_TARGETED_RATE/s (open loop, no subscribers)" server_cpu_us_per_req)" \
  -v pg_o="$(row "order(id) with lines, customer, salesRep [PostgreSQL]" server_cpu_us_per_req)" \
  -v pg_moves="$(row "transitionOrder hold/resume, distinct orders [PostgreSQL]" rps)" \
  -v two_p99="$(row "two instances: change on A, 100 subscribers on B [PostgreSQL]" p99_us)" '
  function known(x) { return x != "" && x != "null" }
  BEGIN {
    print "Against the targets of issue 9:"
    print ""
    if (known(o) && known(base) && o > 0)
      printf "- `order(id)`: %.3fx the ceiling per server core (target at least 0.13x), %.0f µs server CPU/req (target at most 120).\n", base / o, o
    if (known(poll_o) && known(poll_base) && poll_o > 0)
      printf "- With the load generator polling (rows marked client polling): `order(id)` %.3fx the ceiling measured the same way, %.0f µs server CPU/req.\n", poll_base / poll_o, poll_o
    if (known(poll_o) && known(poll_l) && poll_o > 0)
      printf "- With the load generator polling, `orders(first: 50)` costs %.1fx one `order(id)`.\n", poll_l / poll_o
    if (known(half_p99))
      printf "- `order(id)` at half its throughput: p99 %.2f ms (target at most 5 ms).\n", half_p99 / 1000
    if (known(o) && known(l) && o > 0)
      printf "- `orders(first: 50)` costs %.1fx the server CPU of one `order(id)` (target at most 6x).\n", l / o
    if (known(moves) && known(moves_p99))
      printf "- `transitionOrder`: %.0f/s, p99 %.2f ms (target at least 2,000/s, p99 at most 25 ms).\n", moves, moves_p99 / 1000
    if (known(creates))
      printf "- `createOrder`: %.0f/s (target at least 1,500/s).\n", creates
    if (known(ws_p99))
      printf "- One status change to %d subscribers of the order: p99 %.2f ms (target at most 50 ms for 1,000).\n", subscribers, ws_p99 / 1000
    if (known(big_p99))
      printf "- One status change to %d subscribers of the order: p99 %.2f ms (target at most 300 ms for 10,000).\n", big, big_p99 / 1000
    if (known(rss))
      printf "- Server memory per idle subscribed websocket: %.1f KiB over %d of them (target at most 16 KB at 10,000).\n", rss, idle
    if (known(t_p99))
      printf "- Targeted delivery, %d changes/s over %d subscribers of one order each: p99 %.2f ms from the change being sent (target at most 50 ms at 1,000/s over 10,000).\n", targeted_rate, targeted, t_p99 / 1000
    if (known(t_cpu) && known(move_cpu))
      printf "- Server CPU per targeted delivery: %.0f µs with its change, about %.0f µs beyond the change itself (the same changes at the same rate without subscribers cost %.0f µs; target at most 30 µs). Two separate runs cannot show a difference this small (bench/targeted.sh measures it at the issue'"'"'s size in paired rounds).\n", t_cpu, t_cpu - move_cpu, move_cpu
    if (known(pg_o) && known(pg_moves))
      printf "- PostgreSQL: `order(id)` %.0f µs server CPU/req, `transitionOrder` %.0f/s (the same scenarios, rows marked [PostgreSQL]).\n", pg_o, pg_moves
    if (known(two_p99))
      printf "- Two instances on PostgreSQL, change on A, subscriber on B: p99 %.2f ms (target at most 100 ms).\n", two_p99 / 1000
  }' >"$notes"

if [ "$write" -eq 1 ] && [ "$failed" -eq 0 ] && [ ! -f docs/benchmarks.md ]; then
  cat >docs/benchmarks.md <<'EOF'
# Benchmarks

Produced by `bench/run.sh --write` (see the README's "Benchmarks" section); each run is appended
below with the machine, date, commit and command that produced it. Issue 9 states the targets.

## How to read this

Each row is one scenario run for a fixed time by `loadgen` against a release build of orderdesk
on 127.0.0.1, the server pinned to CPU 0 and the load generator to CPU 1 (`taskset`). "req/s" is
what was answered; "server CPU µs/req" is the server process's user + system time over the
measured window divided by the requests answered, and "req/s per server core" is 10^6 divided by
it: what one fully busy core would serve. "x ceiling" compares that with the first row, a plain
axum server answering a fixed 1 KiB JSON on the same core in the same run: absolute figures move
with the machine and its neighbours, the ratio much less. It is computed from CPU per request
rather than from req/s because the load generator needs about as much CPU per request as the
ceiling server does, so on one client core the ceiling row can be limited by the client (its
summary then says SATURATED) while the server core still has room. Latencies are the client's:
closed-loop rows (a fixed number of connections, each sending when answered) show the latency at
saturation; the open-loop row sends on a fixed schedule at half the measured throughput and counts
from each request's scheduled time, so a stall cannot hide (coordinated omission). Every answer is
checked (HTTP 200, JSON, no `errors`, the expected field present); a row with errors measured
nothing. The websocket row counts deliveries of status changes to subscribers, latency from the
mutation's answer to each event's arrival, server CPU per delivery.
EOF
fi
command_line="bash bench/run.sh --write"
[ "$label" != "Run" ] && command_line="$command_line --label \"$label\""
command_line="DURATION=$DURATION $command_line"
[ -n "${DATABASE:-}" ] && command_line="DATABASE=$DATABASE $command_line"
report_run "$label" \
  "Command: \`$command_line\` (warm-up $WARMUP, $CONNECTIONS connections)." \
  "Server: $data_note, SQLite synchronous=FULL, \`--production\` (a JWT checked on every request, one JSON log line per request, to a file), rate limits raised out of the way."
