#!/usr/bin/env bash
# make bench: the BenchmarkDotNet suite in bench/Cortex.Benchmarks against a throwaway redis-server, then the GitHub
# Markdown and CSV reports copied to bench/results/ under stable names (a regression is a diff of those files).
# FILTER (a BenchmarkDotNet --filter glob, default '*') picks benchmarks: FILTER='*Envelope*' make bench.
# Only the classes that ran are copied, so a filtered run leaves the other results as they were.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
dir=$(mktemp -d -t cortex-bench-XXXXXX)
trap 'bash scripts/redis.sh stop "$dir/redis"; rm -rf "$dir"' EXIT
port=$(bash scripts/redis.sh start "$dir/redis")
echo "Started a local Redis on 127.0.0.1:$port (data in $dir, removed at the end)" >&2

project=bench/Cortex.Benchmarks
dotnet build "$project" -c Release -nologo -v q -clp:ErrorsOnly >&2

artifacts="$dir/artifacts"
status=0
# BenchmarkDotNet builds and runs a child process per benchmark; it finds the project from the working directory.
(cd "$project" && CORTEX_BENCH_REDIS="127.0.0.1:$port" dotnet bin/Release/net10.0/Cortex.Benchmarks.dll \
  --filter "${FILTER:-*}" --artifacts "$artifacts") || status=$?

mkdir -p bench/results
copied=0
for report in "$artifacts"/results/*-report-github.md "$artifacts"/results/*-report.csv; do
  [ -e "$report" ] || continue
  cp "$report" bench/results/
  copied=$((copied + 1))
done
echo "make bench: $copied report files copied to bench/results/" >&2
if [ "$copied" -eq 0 ]; then
  echo "make bench: no benchmark produced a report (FILTER='${FILTER:-*}')" >&2
  exit 1
fi
exit "$status"
