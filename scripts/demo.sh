#!/usr/bin/env bash
# make demo: on a fresh machine, installs redis-server if missing, starts a throwaway Redis in a temp dir,
# runs 20,000 billing reminders through the real sender against the built-in fake gateway, then stops Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
dir=$(mktemp -d -t cortex-demo-XXXXXX)
trap 'bash scripts/redis.sh stop "$dir"; rm -rf "$dir"' EXIT
port=$(bash scripts/redis.sh start "$dir")
echo "Started a local Redis on 127.0.0.1:$port (data in $dir, removed at the end)"

dotnet build loadtests/Cortex.LoadTests -c Release -nologo -v q -clp:ErrorsOnly
dotnet loadtests/Cortex.LoadTests/bin/Release/net10.0/Cortex.LoadTests.dll demo --redis "127.0.0.1:$port" --messages "${MESSAGES:-20000}"
