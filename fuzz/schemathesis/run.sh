#!/usr/bin/env bash
# Runs schemathesis in GraphQL mode against a running orderdesk for a fixed time and reports the
# requests by HTTP status (5xx is a failure) and by GraphQL error code.
#
#   ORDERDESK_TOKEN=<bearer token> fuzz/schemathesis/run.sh [URL] [SECONDS]
#   defaults: http://127.0.0.1:18099/graphql, 300 s
#
# Needs `schemathesis` on PATH (`pip install schemathesis`; checked with 4.32.5). Only point it at
# a server you own: it sends thousands of mutations. A throwaway one:
#   orderdesk serve --bind 127.0.0.1:18099 --database sqlite:///tmp/st/od.db --demo --dev \
#       --mutations-per-minute 1000000 --address-mutations-per-minute 1000000
#   export ORDERDESK_TOKEN=$(orderdesk token --dev --email admin@orderdesk.test --database sqlite:///tmp/st/od.db)
#
# The schema comes from api/schema.graphql, not from introspection: the standard introspection
# query is deeper than our depth limit (see docs/reliability-fuzzing.md).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
url="${1:-http://127.0.0.1:18099/graphql}"
seconds="${2:-300}"
report="${SCHEMATHESIS_REPORT_DIR:-$here/report}"
: "${ORDERDESK_TOKEN:?set ORDERDESK_TOKEN to a bearer token for the server}"

rm -rf "$report"
SCHEMATHESIS_HOOKS="$here/hooks.py" schemathesis run "$here/../../api/schema.graphql" \
    --url "$url" \
    -H "Authorization: Bearer $ORDERDESK_TOKEN" \
    --max-time "$seconds" \
    --checks not_a_server_error \
    --continue-on-failure \
    --workers 2 \
    --request-timeout 10 \
    --seed 20261126 \
    --report har,junit --report-dir "$report" || true

# schemathesis's `not_a_server_error` also counts every resolver error that is not marked as a
# client error (NOT_FOUND, CONFLICT, ...) as a "GraphQL server error", so its exit status says
# little. What matters is below: no 5xx, and no INTERNAL (summarise.py exits 1 on either).
python3 "$here/summarise.py" "$report"/har-*.json
