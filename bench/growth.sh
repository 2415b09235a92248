#!/usr/bin/env bash
# orderdesk's data-growth benchmark (issue 9): `order(id)` and a manager's page of
# `orders(first: 50)`, the two reads of bench/run.sh, against SQLite databases of growing size, so
# a read that scans where it should seek shows as growth.
#
#   bench/growth.sh                        sizes 10000,100000,1000000; table on stdout
#   bench/growth.sh --sizes 10000,100000   other sizes (orders generated on top of the demo)
#   bench/growth.sh --write [--label T]    the same, and append the run to docs/benchmarks.md
#
# Each size is seeded once with the release `orderdesk seed --orders N --seed SEED` and cached as
# bench/analytics.sh caches it (bench/lib.sh). The server (release, --production, SQLite
# synchronous=FULL) runs on CPU 0 and loadgen on CPU 1, as in bench/run.sh, and each read runs
# closed-loop on CONNECTIONS connections for DURATION after WARMUP. `order(id)` reads the same
# kind of order at every size: the newest of the demo rep's orders with LINES lines.
# Environment: DURATION (default 10s), WARMUP (default 2s), CONNECTIONS (default 32), SEED
# (default 42), LINES (default 4), SERVER_RUST_LOG (the server's log filter).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

sizes="10000,100000,1000000" write=0 label="Data growth"
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="${2:?--sizes needs a list, e.g. 10000,100000}"; shift ;;
    --write) write=1 ;;
    --label) label="${2:?--label needs a text}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/growth.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orderdesk-ci-target}"
DURATION="${DURATION:-10s}" WARMUP="${WARMUP:-2s}" CONNECTIONS="${CONNECTIONS:-32}"
SEED="${SEED:-42}" LINES="${LINES:-4}"
load_at_start=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo "?")
release_run bench/growth.sh orderdesk-growth

export ORDERDESK_JWT_SECRET="growth-bench-$(date +%s%N)-$$-not-a-production-secret"
if [ -n "${SERVER_RUST_LOG:-}" ]; then export RUST_LOG="$SERVER_RUST_LOG"; else unset RUST_LOG; fi

loadgen() { taskset -c 1 "$bin/loadgen" "$@"; }
ms() { awk -v us="$1" 'BEGIN { if (us == "" || us == "null") print "n/a"; else printf "%.2f", us / 1000 }'; }

# Against the server of the size being measured ($db, $url, $pid, $n).
token() { "$bin/orderdesk" token --email "$1" --database "sqlite://$db" --ttl 2h 2>>"$work/token.log" | tail -n 1; }
ask() { loadgen --url "$url/graphql" --token "$1" --once --query "$2" --print "$3"; }
measure() { # $1 name, then loadgen arguments
  local name=$1 line; shift
  echo "== $name at $n orders" >&2
  if line=$(loadgen --url "$url/graphql" --connections "$CONNECTIONS" --duration "$DURATION" \
    --warmup "$WARMUP" --server-pid "$pid" --json --label "$name" "$@" 2>"$work/scenario.err"); then
    line=$(printf '%s\n' "$line" | tail -n 1)
  else
    line='{"ok":0,"errors":1,"failed":true}'
  fi
  sed 's/^/   /' "$work/scenario.err" >&2
  if [ "$(field "$line" errors)" != "0" ] || [ "$(field "$line" ok)" = "0" ]; then failed=1; fi
  printf '%s\t%s\t%s\n' "$name" "$n" "$line" >>"$results"
}

results="$work/results.tsv"
: >"$results"
failed=0
IFS=',' read -r -a size_list <<<"$sizes"
for n in "${size_list[@]}"; do
  db=$(seeded "$n") || exit 1
  # Reads only: the server may use the cached file itself.
  taskset -c 0 "$bin/orderdesk" serve --bind 127.0.0.1:0 --database "sqlite://$db" --production \
    >"$work/server-$n.out" 2>"$work/server-$n.log" &
  pid=$!
  await_server "$work/server-$n.out" "$work/server-$n.log" || exit 1
  rep_token=$(token rob.rep@orderdesk.test)
  manager_token=$(token mia.manager@orderdesk.test)

  order_id=""
  for id in $(ask "$rep_token" '{ orders(first: 50) { nodes { id } } }' 'data.orders.nodes.*.id'); do
    lines=$(ask "$rep_token" "{ order(id: \"$id\") { lines { lineNo } } }" 'data.order.lines.*.lineNo' | wc -l)
    if [ "$lines" -eq "$LINES" ]; then order_id=$id; break; fi
  done
  [ -n "$order_id" ] || { echo "bench/growth.sh: none of the rep's newest 50 orders has $LINES lines at $n orders" >&2; exit 1; }

  measure "order(id) with $LINES lines, customer, salesRep" --token "$rep_token" \
    --query "$order_query" --variables "{\"id\": \"$order_id\"}" --expect data.order.lines.0.sku
  measure "orders(first: 50, status filter) with customer, total" --token "$manager_token" \
    --query "$list_query" --variables "$list_variables" --expect 'data.orders.nodes.49.customer.name'
  printf '%s\t%s\t%s\n' "#size" "$n" "$(du -m "$db" | cut -f 1)" >>"$results"
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
done

# The table: one row per read; per size p50 / p99 (ms), server CPU per request and req/s; and
# the largest size's p50 over the smallest's, which the target bounds.
first=${size_list[0]} largest=${size_list[${#size_list[@]}-1]}
cell() { awk -F '\t' -v q="$1" -v n="$2" '$1 == q && $2 == n { print $3 }' "$results"; }
table="$work/table.md"
notes="$work/notes.md"
: >"$notes"
{
  printf '| read |'
  for n in "${size_list[@]}"; do printf ' %s orders: p50 / p99 ms, µs/req (req/s) |' "$n"; done
  printf ' p50 at %s / at %s |\n|---|' "$largest" "$first"
  for _ in "${size_list[@]}"; do printf -- '---:|'; done
  printf -- '---:|\n'
  names=$(grep -v '^#' "$results" | cut -f 1 | awk '!seen[$0]++')
  while IFS= read -r name; do
    printf '| %s |' "$name"
    for n in "${size_list[@]}"; do
      line=$(cell "$name" "$n")
      errors=$(field "$line" errors)
      if [ "$(field "$line" ok)" = "0" ]; then
        printf ' %s errors, no answer |' "${errors:-?}"
      else
        printf ' %s / %s, %s (%s)%s |' "$(ms "$(field "$line" p50_us)")" "$(ms "$(field "$line" p99_us)")" \
          "$(field "$line" server_cpu_us_per_req | awk '{ printf "%.0f", $1 }')" \
          "$(field "$line" rps | awk '{ printf "%.0f", $1 }')" \
          "$([ "${errors:-0}" != "0" ] && echo ", $errors errors")"
      fi
    done
    ratio=$(awk -v a="$(field "$(cell "$name" "$largest")" p50_us)" -v b="$(field "$(cell "$name" "$first")" p50_us)" \
      'BEGIN { if (a == "" || b == "" || b <= 0) print "n/a"; else printf "%.2fx", a / b }')
    printf ' %s |\n' "$ratio"
    echo "- $name: p50 at $largest orders is $ratio its p50 at $first (target at most 1.3x at 1M against 10k)." >>"$notes"
  done <<<"$names"
} >"$table"
{
  echo
  while IFS=$'\t' read -r _ n mb; do echo "- Database at $n orders: $mb MB."; done < <(grep '^#size' "$results")
  seeding_notes
} >>"$notes"

report_run "$label" \
  "Command: \`DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS LINES=$LINES bash bench/growth.sh --sizes $sizes --write\`; data: \`orderdesk seed --orders N --seed $SEED\` (SQLite, synchronous=FULL), server on CPU 0, \`--production\`, loadgen on CPU 1, closed loop."
