#!/usr/bin/env bash
# Runs the demo/measurement harness against a throwaway Redis and PostgreSQL: installs what is missing, starts both on
# free loopback ports in a temp dir, builds the harness in Release, runs it once per argument list given as a quoted
# string ("demo --messages 20000"), each with --redis and --postgres added, and stops and removes both at the end.
# The servers a run starts of its own (the chaos run's Redis and PostgreSQL it crashes) keep their data in the same
# temp dir (CORTEX_RUN_DIR): whatever is still running there when this script exits, on Ctrl+C too, is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
dir=$(mktemp -d -t cortex-harness-XXXXXX)
trap 'bash scripts/redis.sh stop "$dir/redis"; bash scripts/postgres.sh stop "$dir/pg"; bash scripts/sweep-servers.sh "$dir" || true' EXIT
chmod 755 "$dir"
port=$(bash scripts/redis.sh start "$dir/redis")
pg=$(bash scripts/postgres.sh start "$dir/pg")
echo "Started a local Redis on 127.0.0.1:$port and PostgreSQL on 127.0.0.1:$pg (data in $dir, removed at the end)" >&2

dotnet build loadtests/Cortex.LoadTests -c Release -nologo -v q -clp:ErrorsOnly >&2
for run in "$@"; do
  # shellcheck disable=SC2086 # each run is a list of words on purpose
  CORTEX_RUN_DIR=$dir dotnet loadtests/Cortex.LoadTests/bin/Release/net10.0/Cortex.LoadTests.dll $run --redis "127.0.0.1:$port" \
    --postgres "Host=127.0.0.1;Port=$pg;Username=postgres;Database=postgres"
done
