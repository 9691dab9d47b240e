#!/bin/sh
# publish-service benchmark: BENCH_POSTS posts x 2 targets (default 10000), all due at the same
# second, the platform sandbox answering instantly. Builds release binaries, then runs
# publish-bench, which prints a Markdown table (time to all published, targets/s, p50/p99 delay
# due → platform call, publish-service peak memory, duplicates, lost). Exit 1 if anything was
# duplicated or lost.
#
#   Benchmarks/publish-bench.sh            # 10,000 x 2
#   BENCH_POSTS=1000 Benchmarks/publish-bench.sh
set -eu
cd "$(dirname "$0")/.."
CONFIGURATION="${BENCH_CONFIGURATION:-release}"
swift build -c "$CONFIGURATION" --product publish-service
swift build -c "$CONFIGURATION" --product publish-bench
exec ".build/$CONFIGURATION/publish-bench"
