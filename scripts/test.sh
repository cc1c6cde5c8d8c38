#!/usr/bin/env bash
# make test: build with warnings as errors, run every test project, print one summary line.
# Integration tests start their own redis-server and PostgreSQL processes on free ports and stop them; their data lives
# in this run's directory, and whatever a run that was interrupted (Ctrl+C, a hang kill) left running there is stopped
# and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

# 755: PostgreSQL runs as the postgres user when we are root, and must reach its cluster's directory inside.
run=$(mktemp -d -t cortex-test-run-XXXXXX)
chmod 755 "$run"
log=
trap 'bash scripts/sweep-servers.sh "$run" || true; rm -f "$log"' EXIT

bash scripts/ensure-tools.sh promtool node kubectl
# The offline Kubernetes validator's packages (k8s/validate/package-lock.json), for the manifest tests.
npm ci --prefix k8s/validate --no-audit --no-fund --loglevel=error
dotnet build Cortex.sln -c Release -warnaserror -nologo -clp:ErrorsOnly

log=$(mktemp)
status=0
aborted=0

# A test that hangs fails the run after 15 minutes (the longest test takes about 5 under the whole suite) instead of
# holding CI until its own limit: the runner names the test it was running and leaves a full dump of the test host and
# its child processes in $results. Read one with dotnet-dump: `dotnet-dump analyze FILE`, then `dumpasync` (awaits)
# or `clrstack -all` (threads).
results=${TMPDIR:-/tmp}/cortex-test-results/$(date -u +%Y%m%dT%H%M%SZ)
# CORTEX_RUN_DIR for the tests only: the sweep also ends every process that carries it. No MSBuild node outlives
# `dotnet test` (node reuse off), so none that another build on this machine could be handed carries it.
CORTEX_RUN_DIR=$run MSBUILDDISABLENODEREUSE=1 dotnet test Cortex.sln -c Release --no-build --nologo \
  --blame-hang-timeout 15m --blame-hang-dump-type full --results-directory "$results" 2>&1 | tee "$log" || status=$?
if grep -q "Test Run Aborted" "$log"; then
  echo "make test: a test run was aborted (a hang or a crash; the test it was running is named above); dumps in $results" >&2
  aborted=1
  [ "$status" -ne 0 ] || status=1
else
  rm -rf "$results"
fi

# "Passed!  - Failed:     0, Passed:    52, Skipped:     0, Total:    52" per test assembly.
sum() { grep -Eo "$1: +[0-9]+" "$log" | awk '{ s += $2 } END { print s + 0 }'; }
passed=$(sum Passed)
# An aborted run reports its finished tests only: the one it was running counts as failed.
failed=$(( $(sum Failed) + aborted ))
# The names of the failed tests last, beside the summary: the end of the output is what a CI record keeps.
if grep -Eq '^ +Failed [A-Za-z]' "$log"; then
  echo "failed tests:"
  grep -E '^ +Failed [A-Za-z]' "$log"
fi
echo "tests: $passed passed, $failed failed"
if [ "$passed" -eq 0 ]; then
  echo "make test: no test ran" >&2
  exit 1
fi
exit "$status"
