#!/usr/bin/env bash
# Runs the fuzz targets one after another (one core), each for a fixed time, and summarises.
#
#   fuzz/run.sh                      every target, 600 s each
#   fuzz/run.sh -t 60 jwt_verify     one target, 60 s
#   FUZZ_SECONDS=30 fuzz/run.sh      every target, 30 s each (a smoke run)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# The corpus grows in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>), logs go to
# fuzz/logs/<target>.log, crashes to fuzz/artifacts/<target>/. Exit status: 1 if any target
# found a crash, timeout or leak.
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-600}"
if [[ "${1:-}" == "-t" ]]; then
    seconds="$2"
    shift 2
fi
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

mkdir -p logs
failed=()
for target in "${targets[@]}"; do
    corpora=("corpus/$target")
    mkdir -p "corpus/$target"
    [[ -d "seeds/$target" ]] && corpora+=("seeds/$target")
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    [[ "$target" == graphql_request ]] && args+=(-dict=graphql.dict)
    # Structured input: operations deep and wide enough to matter need hundreds of bytes, which
    # libFuzzer's slowly growing length limit withholds for many minutes.
    [[ "$target" == graphql_operation ]] && args+=(-len_control=0)
    echo "== $target: ${seconds}s"
    echo "   cargo +nightly fuzz run $target ${corpora[*]} -- ${args[*]}"
    if cargo +nightly fuzz run "$target" "${corpora[@]}" -- "${args[@]}" >"logs/$target.log" 2>&1; then
        verdict="ok"
    else
        verdict="FAILED (see fuzz/logs/$target.log and fuzz/artifacts/$target/)"
        failed+=("$target")
    fi
    # The last status line: executions, coverage (cov = edges, ft = features), corpus size.
    grep -E '^#[0-9]+' "logs/$target.log" | tail -n 1 | sed 's/^/   /' || true
    grep -E '^stat::number_of_executed_units' "logs/$target.log" | sed 's/^/   /' || true
    echo "   $verdict"
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
