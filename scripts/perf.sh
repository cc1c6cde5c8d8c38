#!/usr/bin/env bash
# make perf: throughput and RSS of a Release Cortex.Sender process on this machine, and the scheduler's enqueue rate
# from PostgreSQL into Redis (figures for docs/performance.md). MESSAGES (default 200000) messages per run, and charges
# in the scheduler's day; Redis and PostgreSQL are throwaway instances on free ports, stopped at the end.
# The engine and HTTP rows share the table header below; the scheduler run prints its own table after them.
set -euo pipefail
n=${MESSAGES:-200000}
echo "| run | messages | throughput | sender peak RSS | CPU per message: sender + redis-server |"
echo "| --- | ---: | ---: | ---: | ---: |"
exec bash "$(dirname "$0")/harness.sh" "engine --messages $n" "http --messages $n" "scheduler --messages $n"
