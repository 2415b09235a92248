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
# SERVER_RUST_LOG (the server's log filter; default: its own production default).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

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
  pin_server=() pin_load=()
else
  profile=release
  DURATION="${DURATION:-10s}" WARMUP="${WARMUP:-2s}"
  CONNECTIONS="${CONNECTIONS:-32}" WS_SUBSCRIBERS="${WS_SUBSCRIBERS:-1000}"
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
cleanup() {
  local status=$?
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
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
  "$@" >"$out" 2>"$out.log" &
  pid=$!
  started_pids+=("$pid")
  for _ in $(seq 1 600); do
    url=$(sed -n 's/.* listening on \(http:\/\/[^ ]*\).*/\1/p' "$out" | head -n 1)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench/run.sh: $* did not start; its log:" >&2
  tail -n 30 "$out.log" >&2
  exit 1
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

# A numeric field of a loadgen JSON line (keys are unique and values are numbers or null).
field() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" | head -n 1; }

echo "== seeding demo data ($profile binaries, $work)" >&2
"$bin/orderdesk" seed --demo --database "$database" >"$work/seed.log" 2>&1 \
  || { cat "$work/seed.log" >&2; exit 1; }

# 1. The ceiling: plain axum, fixed 1 KiB JSON, on the same core the server will use.
start "$work/baseline.out" "${pin_server[@]}" "$bin/baseline" --bind 127.0.0.1:0
scenario "baseline: fixed 1 KiB JSON (plain axum)" \
  --url "$url/" --query '{ __typename }' --connections "$CONNECTIONS" --expect 'data.items.*.id'
stop "$pid"

# 2. orderdesk, production mode (auth on every request, one JSON log line per request), SQLite
# synchronous=FULL (the default), rate limits raised far out of the way.
start "$work/orderdesk.out" "${pin_server[@]}" "$bin/orderdesk" serve --bind 127.0.0.1:0 \
  --database "$database" --production \
  --mutations-per-minute 1000000000 --address-mutations-per-minute 1000000000
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

order_query='query Order($id: ID!) { order(id: $id) { id number status version total { amount currency }
  lines { lineNo sku description quantity unitPrice { amount } discountPercent total { amount } }
  customer { id name } salesRep { id name } } }'
scenario "order(id) with lines, customer, salesRep" \
  --url "$graphql" --token "$rep_token" --connections "$CONNECTIONS" \
  --query "$order_query" --variables "{\"id\": \"$order_id\"}" --expect data.order.lines.0.sku
order_rps=$(field "$(tail -n 1 "$results")" rps)
half_rate=$(awk -v r="${order_rps:-0}" 'BEGIN { h = r / 2; print (h < 1 ? 1 : h) }')
scenario "order(id) at half that rate (open loop)" \
  --url "$graphql" --token "$rep_token" --connections "$CONNECTIONS" --rate "$half_rate" \
  --query "$order_query" --variables "{\"id\": \"$order_id\"}" --expect data.order.lines.0.sku

# A manager's open orders: a full page of 50 (the demo rep alone has fewer open orders).
scenario "orders(first: 50, status filter) with customer, total" \
  --url "$graphql" --token "$manager_token" --connections "$CONNECTIONS" \
  --query 'query Open($status: [OrderStatus!]) { orders(first: 50, filter: { status: $status }) {
    nodes { id number status total { amount currency } customer { id name } }
    pageInfo { hasNextPage endCursor } } }' \
  --variables '{"status": ["DRAFT", "NEEDS_REVISION", "PENDING_APPROVAL", "APPROVED", "CONFIRMED",
    "IN_PRODUCTION", "READY_TO_SHIP", "PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED", "ON_HOLD"]}' \
  --expect 'data.orders.nodes.49.customer.name'

# The manager sees the whole team's orders: enough for every connection to own distinct ones.
scenario "transitionOrder hold/resume, distinct orders" \
  --url "$graphql" --token "$manager_token" --connections "$CONNECTIONS" --hold-resume

scenario "createOrder, 5 lines, idempotency key" \
  --url "$graphql" --token "$rep_token" --connections "$CONNECTIONS" --unique-var key \
  --query 'mutation Create($key: String, $input: CreateOrderInput!) {
    createOrder(idempotencyKey: $key, input: $input) { id number status version total { amount currency } } }' \
  --variables "{\"input\": {\"customerId\": \"$customer_id\", \"requestedDate\": \"2031-03-01\", \"lines\": [$lines]}}" \
  --expect data.createOrder.id

scenario "orderStatusChanged fan-out to $WS_SUBSCRIBERS subscribers" \
  --url "$graphql" --token "$rep_token" --ws "$WS_SUBSCRIBERS" --ws-order "$watched_order" \
  --ws-interval 100ms
stop "$pid"

# The table. "x ceiling" compares work per server core: the baseline's server CPU per request
# divided by the scenario's (equal to the ratio of req/s when both saturate the server core, and
# still right when the load generator, not the server, set the baseline's pace). Without a CPU
# figure it falls back to the ratio of req/s. The websocket row counts deliveries.
baseline_line=$(head -n 1 "$results" | cut -f 2)
baseline_rps=$(field "$baseline_line" rps)
baseline_cpu=$(field "$baseline_line" server_cpu_us_per_req)
table="$work/table.md"
{
  echo "| scenario | req/s | server CPU µs/req | req/s per server core | x ceiling | p50 | p99 | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r name line; do
    rps=$(field "$line" rps) errors=$(field "$line" errors) ok=$(field "$line" ok)
    cpu=$(field "$line" server_cpu_us_per_req) p50=$(field "$line" p50_us) p99=$(field "$line" p99_us)
    mode=$(printf '%s\n' "$line" | sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p')
    awk -v name="$name" -v rps="${rps:-0}" -v base_rps="${baseline_rps:-0}" \
      -v base_cpu="${baseline_cpu:-null}" -v cpu="${cpu:-null}" -v p50="${p50:-}" -v p99="${p99:-}" \
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
        unit = mode == "ws" ? " deliveries/s" : ""
        printf "| %s | %.0f%s | %s | %s | %s | %s | %s | %s |\n", name, rps, unit,
          (has_cpu ? sprintf("%.0f", cpu) : "–"), per_core, ratio, ms(p50), ms(p99), errors
      }'
    if [ "${errors:-1}" != "0" ] || [ "${ok:-0}" = "0" ]; then failed=1; fi
  done <"$results"
} >"$table"

# Against the issue's targets (rows in the order the scenarios ran).
row() { field "$(sed -n "${1}p" "$results")" "$2"; }
notes="$work/notes.md"
awk -v base="${baseline_cpu:-null}" -v o="$(row 2 server_cpu_us_per_req)" \
  -v half_p99="$(row 3 p99_us)" -v l="$(row 4 server_cpu_us_per_req)" \
  -v moves="$(row 5 rps)" -v moves_p99="$(row 5 p99_us)" -v creates="$(row 6 rps)" \
  -v ws_p99="$(row 7 p99_us)" -v subscribers="$WS_SUBSCRIBERS" -v rss="$(row 7 server_rss_kib_per_subscriber)" '
  function known(x) { return x != "" && x != "null" }
  BEGIN {
    print "Against the targets of issue 9:"
    print ""
    if (known(o) && known(base) && o > 0)
      printf "- `order(id)`: %.3fx the ceiling per server core (target at least 0.13x), %.0f µs server CPU/req (target at most 120).\n", base / o, o
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
    if (known(rss))
      printf "- Server memory per subscribed websocket: %.1f KiB (RSS growth over %d subscriptions: indicative; the target, at most 16 KB, is for 10,000).\n", rss, subscribers
  }' >"$notes"

echo
cat "$table"
echo
cat "$notes"

if [ "$write" -eq 1 ]; then
  if [ "$failed" -ne 0 ]; then
    echo "bench/run.sh: a scenario failed; docs/benchmarks.md left unchanged" >&2
  else
    doc=docs/benchmarks.md
    if [ ! -f "$doc" ]; then
      cat >"$doc" <<'EOF'
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
    dirty=""
    [ -n "$(git status --porcelain 2>/dev/null)" ] && dirty=" with uncommitted changes"
    model=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
    command_line="bash bench/run.sh --write"
    [ "$label" != "Run" ] && command_line="$command_line --label \"$label\""
    command_line="DURATION=$DURATION $command_line"
    {
      echo
      echo "## $label: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
      echo
      echo "- Machine: $(nproc) CPUs, ${model:-unknown CPU}; load average at start $load_at_start."
      echo "- Command: \`$command_line\` (warm-up $WARMUP, $CONNECTIONS connections)."
      echo "- Server: the demo data (200 orders), SQLite synchronous=FULL, \`--production\` (a JWT checked on every request, one JSON log line per request, to a file), rate limits raised out of the way."
      echo
      cat "$table"
      echo
      cat "$notes"
    } >>"$doc"
    echo "bench/run.sh: appended to $doc" >&2
  fi
fi

if [ "$failed" -ne 0 ]; then
  echo "bench/run.sh: FAILED: a scenario had errors or served nothing (see above)" >&2
  exit 1
fi
