# Shared by bench/run.sh, bench/growth.sh and bench/analytics.sh (sourced, not run): the read
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
