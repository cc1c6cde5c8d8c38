#!/usr/bin/env bash
# make perf: throughput and RSS of a Release Cortex.Sender process on this machine (figures for docs/performance.md).
# MESSAGES (default 200000) messages per run; Redis is a throwaway instance on a free port, stopped at the end.
set -euo pipefail
n=${MESSAGES:-200000}
echo "| run | messages | throughput | sender peak RSS | CPU per message: sender + redis-server |"
echo "| --- | ---: | ---: | ---: | ---: |"
exec bash "$(dirname "$0")/harness.sh" "engine --messages $n" "http --messages $n"
