"""Counts the requests in a schemathesis HAR report by HTTP status and by GraphQL error code;
exits 1 when any response was a 5xx or an INTERNAL error."""

import collections
import json
import sys


def statuses_5xx(statuses):
    return sum(n for status, n in statuses.items() if status >= 500)


entries = json.load(open(sys.argv[1]))["log"]["entries"]
statuses = collections.Counter(e["response"]["status"] for e in entries)
codes = collections.Counter()
internal = 0
for entry in entries:
    text = entry["response"]["content"].get("text") or ""
    try:
        body = json.loads(text)
    except ValueError:
        codes["(not JSON)"] += 1
        continue
    errors = body.get("errors") if isinstance(body, dict) else None
    internal += any((e.get("extensions") or {}).get("code") == "INTERNAL" for e in errors or [])
    codes[(errors[0].get("extensions") or {}).get("code", "(no code)") if errors else "(success)"] += 1
print(f"requests: {len(entries)}")
print("HTTP status:", dict(sorted(statuses.items())))
print("5xx:", statuses_5xx(statuses))
print("first error code:", dict(codes.most_common()))
print("responses with an INTERNAL error:", internal)
sys.exit(1 if statuses_5xx(statuses) or internal else 0)
