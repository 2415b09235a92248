#!/usr/bin/env bash
# orderdesk's KPI latency benchmark (issue 8): each analytics query, and the whole dashboard in one
# request, against SQLite data sets of growing size, so growth is visible.
#
#   bench/analytics.sh                            sizes 10000,100000,1000000; table on stdout
#   bench/analytics.sh --sizes 10000,100000       other sizes (orders generated on top of the demo)
#   bench/analytics.sh --write [--label T]        the same, and append the run to docs/benchmarks.md
#
# Each size is seeded once with the release `orderdesk seed --orders N --seed SEED` and cached under
# $CARGO_TARGET_DIR/kpi-bench/ (keyed by size, seed and a hash of the migrations and the seeder),
# so re-runs skip the seeding. The server (release, --production, SQLite) may use both CPUs (the
# issue's targets are for a 2-core machine, and a report's queries run concurrently) and loadgen
# runs on CPU 1; every query is sent by one connection, one request at a time, for KPI_DURATION (or
# six times its first answer's time, when that is longer than 0.5 s).
# Environment: KPI_SERVER_CPUS (the server's CPUs for taskset, default 0,1; 0 measures one core),
# KPI_DURATION (per query, default 5s), KPI_WARMUP (requests before measuring,
# default 2s), KPI_TIMEOUT (a slower answer is an error, default 60s), SEED (default 42),
# PERIOD_FROM / PERIOD_TO (the month the KPIs cover; default October 2026, the last month of the
# generated history), SERVER_RUST_LOG (the server's log filter).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

sizes="10000,100000,1000000" write=0 label="KPI latency"
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="${2:?--sizes needs a list, e.g. 10000,100000}"; shift ;;
    --write) write=1 ;;
    --label) label="${2:?--label needs a text}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/analytics.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# The queries: one line each, name and selection inside `analytics { ... }`. `$f` is the filter
# variable (the month); a query the server's schema rejects is reported as n/a.
QUERIES=(
  'salesSummary|salesSummary(filter: $f, groupBy: DAY) { totals { currency total { orders value { amount } averageOrderValue { amount } } } buckets { start total { orders } } topCustomers { customerId orders value { amount } } topProducts { productId orders value { amount } } }'
  'pipeline|pipeline(filter: $f) { openByStatus { status orders value { amount } } submitted confirmed conversionRate reviewOutcomes { code severity findings orders } }'
  'cycleTimes|cycleTimes(filter: $f) { stage orders medianHours }'
  'onTimeRate|onTimeRate(filter: $f) { delivered onTime late rate }'
  'exceptionPareto|exceptionPareto(filter: $f) { kind rootCause exceptions share cumulativeShare delayDays lessonsLearned }'
  'receivablesAging|receivablesAging(filter: $f) { asOf currencies { currency invoiced { amount } collected { amount } outstanding { amount } overdue { amount } current { amount } days1To30 { amount } days31To60 { amount } days61To90 { amount } over90 { amount } dsoDays } }'
  'qualityRates|qualityRates(filter: $f) { rates { orders changeRequestRate exceptionRate } costImpact { amount currency } delayDays }'
  'rfm|rfm(filter: $f) { segments { segment customers value { amount } } customers { customerId recencyDays orders value { amount } segment } }'
  'lapsedCustomers|lapsedCustomers(filter: $f) { customerId orders lastOrderAt averageIntervalDays lapseFactor }'
  'paymentBehaviour|paymentBehaviour(filter: $f) { overall { invoicesPaid averageDaysLate onTimeShare } customers { customerId figures { invoicesPaid averageDaysLate } } }'
  'repScorecards|repScorecards(filter: $f) { salesRepId sales { orders value { amount } } onTime { rate } quality { changeRequestRate exceptionRate } collectionRate payments { averageDaysLate } receivables { currency outstanding { amount } dsoDays } }'
)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orderdesk-ci-target}"
KPI_SERVER_CPUS="${KPI_SERVER_CPUS:-0,1}" KPI_DURATION="${KPI_DURATION:-5s}" KPI_WARMUP="${KPI_WARMUP:-2s}" KPI_TIMEOUT="${KPI_TIMEOUT:-60s}"
SEED="${SEED:-42}"
PERIOD_FROM="${PERIOD_FROM:-2026-10-01T00:00:00Z}" PERIOD_TO="${PERIOD_TO:-2026-11-01T00:00:00Z}"
load_at_start=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo "?")
release_run bench/analytics.sh orderdesk-kpi
"$bin/orderdesk" seed --help | grep -q -- '--orders' \
  || { echo "bench/analytics.sh: $CARGO_TARGET_DIR/release/orderdesk has no \`seed --orders\`" >&2; exit 1; }

export ORDERDESK_JWT_SECRET="kpi-bench-$(date +%s%N)-$$-not-a-production-secret"
if [ -n "${SERVER_RUST_LOG:-}" ]; then export RUST_LOG="$SERVER_RUST_LOG"; else unset RUST_LOG; fi

ms() { awk -v us="$1" 'BEGIN { if (us == "" || us == "null") print "n/a"; else printf "%.1f", us / 1000 }'; }

variables="{\"f\": {\"from\": \"$PERIOD_FROM\", \"to\": \"$PERIOD_TO\"}}"
results="$work/results.tsv"
: >"$results"
IFS=',' read -r -a size_list <<<"$sizes"
for n in "${size_list[@]}"; do
  db=$(seeded "$n") || exit 1
  size_mb=$(du -m "$db" | cut -f 1)
  taskset -c "$KPI_SERVER_CPUS" "$bin/orderdesk" serve --bind 127.0.0.1:0 --database "sqlite://$db" --production \
    >"$work/server-$n.out" 2>"$work/server-$n.log" &
  pid=$!
  await_server "$work/server-$n.out" "$work/server-$n.log" || exit 1
  token=$("$bin/orderdesk" token --email admin@orderdesk.test --database "sqlite://$db" --ttl 2h 2>>"$work/token.log" | tail -n 1)
  loadgen() { taskset -c 1 "$bin/loadgen" --url "$url/graphql" --token "$token" "$@"; }

  dashboard=""
  run() { # $1 name, $2 selection
    local name=$1 query="query Kpi(\$f: AnalyticsFilter!) { analytics { $2 } }" line
    # A query the schema rejects (a KPI this build does not have) is n/a; a slow one is measured.
    local started_ns duration=$KPI_DURATION warmup=$KPI_WARMUP probe_ms
    started_ns=$(date +%s%N)
    if ! loadgen --once --timeout "$KPI_TIMEOUT" --query "$query" --variables "$variables" \
      --expect data.analytics >"$work/probe.out" 2>&1 \
      && grep -q 'GRAPHQL_VALIDATION_FAILED\|Unknown field\|Unknown argument\|Unknown type' "$work/probe.out"; then
      echo "== $name at $n orders: n/a ($(head -c 300 "$work/probe.out"))" >&2
      printf '%s\t%s\t%s\n' "$name" "$n" '{"ok":0,"na":true}' >>"$results"
      return 1
    fi
    # The probe warmed it up; a slow query gets a window long enough for several answers.
    probe_ms=$((($(date +%s%N) - started_ns) / 1000000))
    if [ "$probe_ms" -gt 500 ]; then
      warmup=0s duration="$(((probe_ms * 6 + 999) / 1000))s"
    fi
    echo "== $name at $n orders (probe ${probe_ms} ms; measuring $duration)" >&2
    if line=$(loadgen --connections 1 --duration "$duration" --warmup "$warmup" \
      --timeout "$KPI_TIMEOUT" --server-pid "$pid" --json --label "$name" \
      --query "$query" --variables "$variables" --expect data.analytics 2>"$work/scenario.err"); then
      line=$(printf '%s\n' "$line" | tail -n 1)
    else
      line='{"ok":0,"errors":1,"failed":true}'
    fi
    sed 's/^/   /' "$work/scenario.err" >&2
    printf '%s\t%s\t%s\n' "$name" "$n" "$line" >>"$results"
  }
  for entry in "${QUERIES[@]}"; do
    if run "${entry%%|*}" "${entry#*|}"; then dashboard="$dashboard ${entry#*|}"; fi
  done
  if [ -n "$dashboard" ]; then run "dashboard (all of the above)" "$dashboard" || true; fi
  # Growth is easier to see with the database's size next to it.
  printf '%s\t%s\t%s\n' "#size" "$n" "$size_mb" >>"$results"
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
done

# The table: one row per query, p50 / p99 / max (ms) and requests per size.
table="$work/table.md"
{
  printf '| query |'
  for n in "${size_list[@]}"; do printf ' %s orders: p50 / p99 / max ms (n) |' "$n"; done
  printf '\n|---|'
  for _ in "${size_list[@]}"; do printf -- '---:|'; done
  printf '\n'
  names=$(grep -v '^#' "$results" | cut -f 1 | awk '!seen[$0]++')
  while IFS= read -r name; do
    printf '| %s |' "$name"
    for n in "${size_list[@]}"; do
      line=$(awk -F '\t' -v q="$name" -v n="$n" '$1 == q && $2 == n { print $3 }' "$results")
      errors=$(field "$line" errors)
      if [ -z "$line" ] || [ "$(field "$line" na)" = "true" ]; then
        printf ' n/a |'
      elif [ "$(field "$line" ok)" = "0" ]; then
        printf ' %s errors, no answer |' "${errors:-?}"
      else
        printf ' %s / %s / %s (%s%s) |' "$(ms "$(field "$line" p50_us)")" "$(ms "$(field "$line" p99_us)")" \
          "$(ms "$(field "$line" max_us)")" "$(field "$line" ok)" \
          "$([ "${errors:-0}" != "0" ] && echo ", $errors errors")"
      fi
    done
    printf '\n'
  done <<<"$names"
} >"$table"

# Against the targets, at the largest size measured.
largest=${size_list[${#size_list[@]}-1]}
notes="$work/notes.md"
{
  echo "Against the targets of issue 8 at $largest orders (each KPI p99 at most 200 ms, the dashboard at most 1 s):"
  echo
  while IFS=$'\t' read -r name n line; do
    [ "$n" = "$largest" ] && [ "${name:0:1}" != "#" ] || continue
    p99=$(field "$line" p99_us) errors=$(field "$line" errors) ok=$(field "$line" ok)
    if [ "$(field "$line" na)" = "true" ]; then echo "- $name: n/a (not in this build's schema)"; continue; fi
    if [ "${errors:-1}" != "0" ] || [ "${ok:-0}" = "0" ]; then
      echo "- $name: NOT met: ${errors:-?} errors, ${ok:-0} answers in the window."
      continue
    fi
    limit=200000; [ "${name#dashboard}" != "$name" ] && limit=1000000
    verdict=$(awk -v p="$p99" -v l="$limit" 'BEGIN { print (p <= l ? "met" : "NOT met") }')
    echo "- $name: p99 $(ms "$p99") ms: $verdict."
  done <"$results"
  echo
  while IFS=$'\t' read -r _ n mb; do echo "- Database at $n orders: $mb MB."; done < <(grep '^#size' "$results")
  seeding_notes
} >"$notes"

echo
cat "$table"
echo
cat "$notes"

if [ "$write" -eq 1 ]; then
  append_run "$label" "$table" "$notes" \
    "Command: \`KPI_SERVER_CPUS=$KPI_SERVER_CPUS KPI_DURATION=$KPI_DURATION KPI_WARMUP=$KPI_WARMUP bash bench/analytics.sh --sizes $sizes --write\`; data: \`orderdesk seed --orders N --seed $SEED\` (SQLite, history until 2026-11-01), the KPIs for $PERIOD_FROM .. $PERIOD_TO as the admin, one request at a time, server on CPUs $KPI_SERVER_CPUS, \`--production\`."
  echo "bench/analytics.sh: appended to docs/benchmarks.md" >&2
fi
