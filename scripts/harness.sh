#!/usr/bin/env bash
# Runs the demo/measurement harness against a throwaway Redis: installs what is missing, starts Redis on a free
# loopback port in a temp dir, builds the harness in Release, runs it once per argument list given as a quoted
# string ("demo --messages 20000"), each with --redis added, and stops and removes Redis at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
dir=$(mktemp -d -t cortex-harness-XXXXXX)
trap 'bash scripts/redis.sh stop "$dir"; rm -rf "$dir"' EXIT
port=$(bash scripts/redis.sh start "$dir")
echo "Started a local Redis on 127.0.0.1:$port (data in $dir, removed at the end)" >&2

dotnet build loadtests/Cortex.LoadTests -c Release -nologo -v q -clp:ErrorsOnly >&2
for run in "$@"; do
  # shellcheck disable=SC2086 # each run is a list of words on purpose
  dotnet loadtests/Cortex.LoadTests/bin/Release/net10.0/Cortex.LoadTests.dll $run --redis "127.0.0.1:$port"
done
