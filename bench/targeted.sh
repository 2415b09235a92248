#!/usr/bin/env bash
# orderdesk's targeted-delivery benchmark at the issue's size (issue 9): SUBSCRIBERS subscriptions,
# each to a different order of a database of ORDERS generated orders, and RATE status changes a
# second spread over them, so that every event must reach exactly one subscriber.
#
#   bench/targeted.sh                      10,000 subscribers, 1,000 changes/s, 1M orders; stdout
#   bench/targeted.sh --write [--label T]  the same, and append the run to docs/benchmarks.md
#
# The server's CPU per delivery is measured in ROUNDS paired rounds (`loadgen --ws-paired`): each
# round is a phase of PHASE whose changes are delivered and a phase whose changes go to orders
# nobody watches, back to back and in alternating order, while the same subscriptions stay open.
# A delivery's cost is the difference of the two phases' CPU per change; the median and the mean
# (± two standard errors) over the rounds are reported. Separate runs of the two kinds drifted
# apart by more than the figure itself (docs/benchmarks.md, sessions 12-14).
# The database is seeded once and cached as bench/growth.sh caches it (bench/lib.sh), and copied
# for the run (the changes write to it). Server (release, --production, SQLite synchronous=FULL)
# on CPU 0, loadgen on CPU 1.
# Environment: SUBSCRIBERS (default 10000), RATE (default 1000), ORDERS (default 1000000),
# ROUNDS (default 12), PHASE (default 20s: with phases of 3 s, the seconds after a switch weighed
# enough for the order of a round's phases to show), WARMUP (default 5s), CONNECTIONS (the
# driver's, default 32), SEED (default 42), SERVER_RUST_LOG (the server's log filter), SPIN=1 (the
# load generator polls instead of sleeping: on loopback the server's write wakes a sleeping
# client, which under a hypervisor is an inter-processor interrupt counted as the server's CPU;
# clients on other machines do not cost the server that).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

write=0 label="Targeted delivery"
while [ $# -gt 0 ]; do
  case "$1" in
    --write) write=1 ;;
    --label) label="${2:?--label needs a text}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/targeted.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orderdesk-ci-target}"
SUBSCRIBERS="${SUBSCRIBERS:-10000}" RATE="${RATE:-1000}" ORDERS="${ORDERS:-1000000}"
ROUNDS="${ROUNDS:-12}" PHASE="${PHASE:-20s}" WARMUP="${WARMUP:-5s}" CONNECTIONS="${CONNECTIONS:-32}"
SEED="${SEED:-42}"
load_at_start=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo "?")
release_run bench/targeted.sh orderdesk-targeted

export ORDERDESK_JWT_SECRET="targeted-bench-$(date +%s%N)-$$-not-a-production-secret"
if [ -n "${SERVER_RUST_LOG:-}" ]; then export RUST_LOG="$SERVER_RUST_LOG"; else unset RUST_LOG; fi

cached=$(seeded "$ORDERS") || exit 1
db="$work/orders.db"
echo "== copying the $ORDERS-order database ($(du -m "$cached" | cut -f 1) MB)" >&2
cp "$cached" "$db"

# The rate limits are for people; this load is one admin making a thousand changes a second.
taskset -c 0 "$bin/orderdesk" serve --bind 127.0.0.1:0 --database "sqlite://$db" --production \
  --mutations-per-minute 1000000000 --address-mutations-per-minute 1000000000 \
  >"$work/server.out" 2>"$work/server.log" &
pid=$!
await_server "$work/server.out" "$work/server.log" || exit 1
# An admin sees every order, so the most orders can be held and resumed.
admin_token=$("$bin/orderdesk" token --email admin@orderdesk.test --database "sqlite://$db" --ttl 2h \
  2>>"$work/token.log" | tail -n 1)

echo "== $SUBSCRIBERS subscribers, $RATE changes/s, $ROUNDS paired rounds of $PHASE" >&2
spin=() client="sleeps between messages"
if [ -n "${SPIN:-}" ]; then spin=(--spin) client="polls (--spin)"; fi
failed=0
if ! taskset -c 1 "$bin/loadgen" "${spin[@]}" --url "$url/graphql" --token "$admin_token" --json \
  --server-pid "$pid" --label "targeted" --ws-targeted "$SUBSCRIBERS" --ws-rate "$RATE" \
  --ws-paired "$ROUNDS" --duration "$PHASE" --warmup "$WARMUP" --connections "$CONNECTIONS" \
  --timeout 5s >"$work/lines.json" 2>"$work/loadgen.err"; then
  failed=1
fi
sed 's/^/   /' "$work/loadgen.err" >&2
delivery=$(grep '"mode":"ws-targeted"' "$work/lines.json" | tail -n 1 || true)
paired=$(grep '"mode":"ws-targeted-paired"' "$work/lines.json" | tail -n 1 || true)
if [ -z "$delivery" ] || [ -z "$paired" ] || [ "$(field "$delivery" errors)" != "0" ] \
  || [ "$(field "$delivery" ok)" = "0" ]; then
  failed=1
fi
db_mb=$(du -m "$db" | cut -f 1)
kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
# The copy is gigabytes: not among the logs a failed run keeps.
rm -f "$db" "$db-wal" "$db-shm"

ms() { awk -v us="$1" 'BEGIN { if (us == "" || us == "null") print "n/a"; else printf "%.2f", us / 1000 }'; }
table="$work/table.md"
notes="$work/notes.md"
rounds=$(field "$paired" rounds)
{
  echo "| round | delivered: server CPU per change (µs) | control: nobody watches (µs) | per delivery beyond its change (µs) |"
  echo "|---|---:|---:|---:|"
  for n in $(seq 1 "${rounds:-0}"); do
    d=$(field "$paired" "delivered_us_$n") c=$(field "$paired" "control_us_$n")
    printf '| %s%s | %s | %s | %s |\n' "$n" \
      "$([ $((n % 2)) -eq 1 ] && echo " (delivered first)" || echo " (control first)")" \
      "$d" "$c" "$(awk -v d="$d" -v c="$c" 'BEGIN { printf "%.1f", d - c }')"
  done
  echo "| **median** | | | **$(field "$paired" delivery_us_median)** |"
  echo "| **mean ± 2 standard errors** | | | **$(field "$paired" delivery_us_mean) ± $(field "$paired" delivery_us_2se)** |"
} >"$table"
{
  echo "- Deliveries: $(field "$delivery" ok) of $(field "$delivery" expected) in the delivered phases, $(field "$delivery" errors) errors; latency from the change's scheduled send: p50 $(ms "$(field "$delivery" p50_us)") ms, p99 $(ms "$(field "$delivery" p99_us)") ms, max $(ms "$(field "$delivery" max_us)") ms (target p99 at most 50 ms)."
  echo "- Server CPU per delivery beyond its change (target at most 30 µs) over $rounds rounds: median $(field "$paired" delivery_us_median) µs, mean $(field "$paired" delivery_us_mean) ± $(field "$paired" delivery_us_2se) µs (two standard errors)."
  echo "- Database: $ORDERS generated orders, $db_mb MB."
  seeding_notes
} >"$notes"

report_run "$label" \
  "Command: \`${SPIN:+SPIN=1 }SUBSCRIBERS=$SUBSCRIBERS RATE=$RATE ORDERS=$ORDERS ROUNDS=$ROUNDS PHASE=$PHASE WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS bash bench/targeted.sh --write\`; data: \`orderdesk seed --orders $ORDERS --seed $SEED\` (SQLite, synchronous=FULL), server on CPU 0, \`--production\`, loadgen on CPU 1 (its client $client), open loop."
