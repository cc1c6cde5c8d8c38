#!/usr/bin/env bash
# make perf: throughput and RSS of a Release Cortex.Sender process on this machine (figures for docs/performance.md).
# MESSAGES (default 200000) messages per run; Redis is a throwaway instance on a free port, stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
dir=$(mktemp -d -t cortex-perf-XXXXXX)
trap 'bash scripts/redis.sh stop "$dir"; rm -rf "$dir"' EXIT
port=$(bash scripts/redis.sh start "$dir")
dotnet build loadtests/Cortex.LoadTests -c Release -nologo -v q -clp:ErrorsOnly
harness=loadtests/Cortex.LoadTests/bin/Release/net10.0/Cortex.LoadTests.dll
n=${MESSAGES:-200000}
echo "| run | messages | throughput | sender peak RSS | CPU per message: sender + redis-server |"
echo "| --- | ---: | ---: | ---: | ---: |"
dotnet "$harness" engine --redis "127.0.0.1:$port" --messages "$n"
dotnet "$harness" http --redis "127.0.0.1:$port" --messages "$n"
