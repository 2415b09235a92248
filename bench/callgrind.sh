#!/usr/bin/env bash
# Instructions per request of one scenario, counted by valgrind's callgrind: unlike a timed run,
# the count repeats to within half a per cent whatever else the machine is doing, so it compares
# two commits on any machine (docs/benchmarks.md cites it as "callgrind, per request").
#
#   bench/callgrind.sh [order|page|transition|delivery] [BIN]
#
# order: `order(id)` with lines, customer and salesRep (a rep's token); page: a manager's page of
# 50 orders with a status filter; transition: `transitionOrder` hold/resume on distinct orders at
# 20 a second (open loop, so each change is a commit of its own, as at low load); delivery:
# SUBSCRIBERS (200) websocket subscribers of one order, each with an operation text of its own
# (so each resolves every event itself, as a subscriber of its own order does in targeted
# delivery), and a status change every 250 ms: instructions per delivery, the change's own
# share included (a 200th of a change each).
# BIN: the orderdesk binary to measure (default: the release build in $CARGO_TARGET_DIR). The
# server runs on a seeded demo database (DATABASE=file to use a copy of another one),
# `--production`, under callgrind; the load generator sends WARMUP (3s) of load, the counters are
# zeroed, then COUNTED (6s) of load is counted. The count includes the server's background work
# (log writer, event dispatcher), divided by the requests answered in the window; for transition
# it also includes the load generator's one read of the orders it will change (about 8 % here). KEEP=dir keeps
# the callgrind output there for `callgrind_annotate`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

scenario=${1:-order}
target=${CARGO_TARGET_DIR:-target}
server=${2:-$target/release/orderdesk}
WARMUP=${WARMUP:-3s}
COUNTED=${COUNTED:-6s}
command -v valgrind >/dev/null || { echo "bench/callgrind.sh: valgrind is needed" >&2; exit 1; }
[ -x "$server" ] || { echo "bench/callgrind.sh: no binary at $server (cargo build --release -p api -p bench)" >&2; exit 1; }
loadgen=$target/release/loadgen
[ -x "$loadgen" ] || { echo "bench/callgrind.sh: no loadgen at $loadgen" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/orderdesk-callgrind.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${DATABASE:-}" ]; then
  cp "$DATABASE" "$work/db.sqlite"
else
  "$server" seed --demo --database "sqlite://$work/db.sqlite" >"$work/seed.log" 2>&1 \
    || { cat "$work/seed.log" >&2; exit 1; }
fi
database="sqlite://$work/db.sqlite"
export ORDERDESK_JWT_SECRET="callgrind-$(date +%s%N)-not-a-production-secret"
unset RUST_LOG
token() { "$server" token --email "$1" --database "$database" --ttl 2h 2>/dev/null | tail -n 1; }
rep_token=$(token rob.rep@orderdesk.test)
manager_token=$(token mia.manager@orderdesk.test)

: >"$work/server.out"
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" \
  "$server" serve --bind 127.0.0.1:0 --database "$database" --production \
  --mutations-per-minute 1000000000 --address-mutations-per-minute 1000000000 \
  >"$work/server.out" 2>"$work/server.log" &
pid=$!
bench_script=bench/callgrind.sh
# Slower to start under valgrind: two minutes at most.
await_server "$work/server.out" "$work/server.log" 1200 || exit 1
graphql="$url/graphql"

case $scenario in
  order)
    order_id=$("$loadgen" --url "$graphql" --token "$rep_token" --once \
      --query '{ orders(first: 1) { nodes { id } } }' --print 'data.orders.nodes.0.id')
    load=(--token "$rep_token" --connections 4 --query "$order_query"
      --variables "{\"id\": \"$order_id\"}" --expect data.order.lines.0.sku) ;;
  page)
    load=(--token "$manager_token" --connections 4 --query "$list_query"
      --variables "$list_variables" --expect 'data.orders.nodes.49.customer.name') ;;
  transition)
    load=(--token "$manager_token" --hold-resume --rate 20) ;;
  delivery) ;;
  *) echo "bench/callgrind.sh: unknown scenario $scenario (order, page, transition or delivery)" >&2; exit 1 ;;
esac

if [ "$scenario" = delivery ]; then
  # One loadgen run opens the subscriptions, proves each live and then changes the order; the
  # count starts WARMUP after that, and the deliveries counted are the server's resolutions in
  # the window (one per delivery here).
  subscribers=${SUBSCRIBERS:-200}
  admin_token=$(token admin@orderdesk.test)
  order_id=$("$loadgen" --url "$graphql" --token "$admin_token" --once \
    --query '{ orders(first: 1, filter: {status: [CONFIRMED]}) { nodes { id } } }' \
    --print 'data.orders.nodes.0.id')
  metric() {
    local value
    value=$(curl -fsS "$url/metrics" | sed -n "s/^$1 //p")
    echo "${value:-0}"
  }
  resolutions() { metric orderdesk_subscription_resolutions_total; }
  "$loadgen" --url "$graphql" --token "$admin_token" --ws "$subscribers" --ws-order "$order_id" \
    --ws-unique --ws-interval 250ms --duration 600s --timeout 30s >"$work/load.out" 2>&1 &
  driver=$!
  # Every subscription open and each subscriber's first event resolved: the setup (a document
  # parsed and validated per subscriber) is over.
  for _ in $(seq 1 1200); do
    [ "$(metric orderdesk_subscriptions)" -ge "$subscribers" ] \
      && [ "$(resolutions)" -ge "$subscribers" ] && break
    kill -0 "$driver" 2>/dev/null || { cat "$work/load.out" >&2; exit 1; }
    sleep 0.5
  done
  sleep "$WARMUP"
  before=$(resolutions)
  callgrind_control -z "$pid" >/dev/null 2>&1
  sleep "$COUNTED"
  callgrind_control -d "$pid" >/dev/null 2>&1
  deliveries=$(($(resolutions) - before))
  kill "$driver" 2>/dev/null || true
  wait "$driver" 2>/dev/null || true
  dump=$(ls -t "$work"/callgrind.out.* | head -n 1)
  instructions=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p;s/^totals: *\([0-9]*\).*/\1/p' "$dump" | head -n 1)
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$dump" "$KEEP/"; fi
  [ "$deliveries" -gt 0 ] || { echo "bench/callgrind.sh: no delivery in the window" >&2; exit 1; }
  echo "delivery: $((instructions / deliveries)) instructions per delivery ($instructions over $deliveries deliveries to $subscribers subscribers; $(basename "$server"))"
  exit 0
fi

"$loadgen" --url "$graphql" --duration "$WARMUP" "${load[@]}" >/dev/null 2>"$work/warmup.err" \
  || { cat "$work/warmup.err" >&2; exit 1; }
callgrind_control -z "$pid" >/dev/null 2>&1
line=$("$loadgen" --url "$graphql" --duration "$COUNTED" --json "${load[@]}" 2>"$work/load.err") \
  || { cat "$work/load.err" >&2; exit 1; }
callgrind_control -d "$pid" >/dev/null 2>&1
requests=$(field "$(printf '%s\n' "$line" | tail -n 1)" ok)
errors=$(field "$(printf '%s\n' "$line" | tail -n 1)" errors)
dump=$(ls -t "$work"/callgrind.out.* | head -n 1)
instructions=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p;s/^totals: *\([0-9]*\).*/\1/p' "$dump" | head -n 1)
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$dump" "$KEEP/"; fi
[ "${requests:-0}" -gt 0 ] || { echo "bench/callgrind.sh: no request answered in the window" >&2; exit 1; }
echo "$scenario: $((instructions / requests)) instructions per request ($instructions over $requests requests, ${errors:-0} errors; $(basename "$server"))"
