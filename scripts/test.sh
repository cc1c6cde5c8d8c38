#!/usr/bin/env bash
# make test: build with warnings as errors, run every test project, print one summary line.
# Integration tests start their own redis-server processes on free ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh promtool node kubectl
# The offline Kubernetes validator's packages (k8s/validate/package-lock.json), for the manifest tests.
npm ci --prefix k8s/validate --no-audit --no-fund --loglevel=error
dotnet build Cortex.sln -c Release -warnaserror -nologo -clp:ErrorsOnly

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test Cortex.sln -c Release --no-build --nologo 2>&1 | tee "$log" || status=$?

# "Passed!  - Failed:     0, Passed:    52, Skipped:     0, Total:    52" per test assembly.
sum() { grep -Eo "$1: +[0-9]+" "$log" | awk '{ s += $2 } END { print s + 0 }'; }
passed=$(sum Passed)
failed=$(sum Failed)
echo "tests: $passed passed, $failed failed"
if [ "$passed" -eq 0 ]; then
  echo "make test: no test ran" >&2
  exit 1
fi
exit "$status"
