# Shared by bench/run.sh, bench/growth.sh, bench/analytics.sh, bench/targeted.sh and
# bench/callgrind.sh (sourced, not run): the read
# operations the scenarios send, the JSON field reader and the cache of seeded databases.

# `order(id)` as a rep's order screen shows it.
order_query='query Order($id: ID!) { order(id: $id) { id number status version total { amount currency }
  lines { lineNo sku description quantity unitPrice { amount } discountPercent total { amount } }
  customer { id name } salesRep { id name } } }'

# A manager's open orders: a full page of 50.
list_query='query Open($status: [OrderStatus!]) { orders(first: 50, filter: { status: $status }) {
    nodes { id number status total { amount currency } customer { id name } }
    pageInfo { hasNextPage endCursor } } }'
list_variables='{"status": ["DRAFT", "NEEDS_REVISION", "PENDING_APPROVAL", "APPROVED", "CONFIRMED",
    "IN_PRODUCTION", "READY_TO_SHIP", "PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED", "ON_HOLD"]}'

# A numeric field of a loadgen JSON line (keys are unique and values are numbers or null).
field() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" | head -n 1; }

# A database seeded with $1 generated orders (`orderdesk seed --orders N --seed $SEED`), cached
# under $CARGO_TARGET_DIR/kpi-bench/ and keyed by size, seed and a hash of the migrations and the
# seeder, so re-runs skip the seeding; prints its path. Needs $bin (the release binaries), $work
# and $SEED; the seconds seeding took go to $work/seeding.
seeded() {
  local n=$1 key cache="$CARGO_TARGET_DIR/kpi-bench"
  key=$(cat persistence/src/migration/*.rs persistence/src/repo/bulk.rs api/src/seed.rs \
    api/src/seed/*.rs | sha256sum | cut -c 1-12)
  local db="$cache/kpi-$n-seed$SEED-$key.db"
  mkdir -p "$cache"
  if [ ! -f "$db" ]; then
    echo "== seeding $n orders (seed $SEED) into $db" >&2
    rm -f "$db.tmp" "$db.tmp-wal" "$db.tmp-shm"
    local started=$SECONDS
    "$bin/orderdesk" seed --orders "$n" --seed "$SEED" --database "sqlite://$db.tmp" 2>&1 \
      | sed 's/^/   /' >&2
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "bench: seeding $n orders failed" >&2; return 1; }
    printf '%s\t%s\n' "$n" "$((SECONDS - started))" >>"$work/seeding"
    mv "$db.tmp" "$db"
  fi
  printf '%s\n' "$db"
}

# Waits for the orderdesk started as $pid to print its address on $1 (its stdout file), for $3
# tenths of a second at most (default 600); sets $url, or fails with the last lines of $2 (its
# log) after the script's name $bench_script.
await_server() {
  local out=$1 log=$2 tries=${3:-600}
  url=""
  for _ in $(seq 1 "$tries"); do
    # The file may not exist yet: the child's shell makes it, and the first look may come first.
    url=$(sed -n 's/.* listening on \(http:\/\/[^ ]*\).*/\1/p' "$out" 2>/dev/null | head -n 1) || url=""
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$bench_script: the server did not start:" >&2
  tail -n 20 "$log" >&2
  return 1
}

# The notes' line per database this run seeded (from $work/seeding).
seeding_notes() {
  [ -f "$work/seeding" ] || return 0
  local n secs
  while IFS=$'\t' read -r n secs; do echo "- Seeding $n orders (release, this run): ${secs} s."; done <"$work/seeding"
}

# The end of a measuring script: prints $table and $notes; with --write ($write=1) appends them to
# docs/benchmarks.md under the heading $1 with the bullets $2... (the command first), unless the
# run $failed; exits 1 when it did.
report_run() {
  local label=$1
  shift
  echo
  cat "$table"
  echo
  cat "$notes"
  if [ "$write" -eq 1 ]; then
    if [ "$failed" -ne 0 ]; then
      echo "$bench_script: the run had errors; docs/benchmarks.md left unchanged" >&2
    else
      append_run "$label" "$table" "$notes" "$@"
      echo "$bench_script: appended to docs/benchmarks.md" >&2
    fi
  fi
  if [ "$failed" -ne 0 ]; then
    echo "$bench_script: FAILED: errors or no answers (see above)" >&2
    exit 1
  fi
}

# For scripts that measure the release build on pinned CPUs (bench/growth.sh, bench/analytics.sh):
# checks the machine, builds, and copies orderdesk and loadgen into a fresh $work/bin, so that
# another build sharing the target directory cannot swap them during the run. Sets $work, $bin
# and $pid (the server to stop at exit, none yet); $work is removed at exit unless the run
# failed. $1: the script, $2: the work directory's prefix.
release_run() {
  bench_script=$1
  command -v taskset >/dev/null || { echo "$bench_script: taskset (util-linux) is needed" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "$bench_script: needs 2 CPUs (server on one, load on the other)" >&2; exit 1; }
  echo "== building release binaries" >&2
  nice cargo build --release -p api -p bench >&2
  work=$(mktemp -d "${TMPDIR:-/tmp}/$2.XXXXXX")
  pid=""
  trap release_run_cleanup EXIT
  bin="$work/bin"
  mkdir -p "$bin"
  cp "$CARGO_TARGET_DIR/release/orderdesk" "$CARGO_TARGET_DIR/release/loadgen" "$bin/"
}

release_run_cleanup() {
  local status=$?
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ]; then echo "$bench_script: logs kept in $work" >&2; else rm -rf "$work"; fi
}

# Appends a run to docs/benchmarks.md: a heading of $1 with the date and commit, the machine,
# the bullets $4... (one line each), the table file $2 and the notes file $3.
append_run() {
  local label=$1 table=$2 notes=$3 dirty="" model
  shift 3
  [ -n "$(git status --porcelain 2>/dev/null)" ] && dirty=" with uncommitted changes"
  model=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
  {
    echo
    echo "## $label: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
    echo
    echo "- Machine: $(nproc) CPUs, ${model:-unknown CPU}; load average at start $load_at_start."
    local bullet
    for bullet in "$@"; do echo "- $bullet"; done
    echo
    cat "$table"
    echo
    cat "$notes"
  } >>docs/benchmarks.md
}
