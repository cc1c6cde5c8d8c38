#!/usr/bin/env bash
# `sweep-servers.sh DIR`: stops whatever a run left running, then removes DIR. DIR is the run's own directory
# (CORTEX_RUN_DIR, set by test.sh and harness.sh for the commands they run; loadtests/Cortex.LoadTests/ServerDirectory.cs): every
# throwaway redis-server and PostgreSQL of the run keeps its data there. Swept on exit whatever ended the run: a
# postmaster pg_ctl started is in a session of its own, and redis-servers and sender or scheduler processes outlive a
# test host killed by --blame-hang, so none of them goes with an interrupted run.
# First each PostgreSQL cluster under DIR (a data/postmaster.pid) is stopped with pg_ctl stop -m immediate. Then every
# process still working inside DIR (a redis-server works in its --dir) or started by this run (its environment has
# CORTEX_RUN_DIR=DIR; redis-server overwrites its own) is killed, but a .NET build server a test's `dotnet publish`
# started (shared by every build of this user, and holding no server of ours). Other runs' servers are never touched.
# Best effort: it always exits 0, so it never replaces the exit status of the run it cleans up after.
set -uo pipefail

dir=${1:?usage: sweep-servers.sh DIR}
[ -d "$dir" ] || exit 0
given=$dir
dir=$(cd "$dir" && pwd -P)
here=$(dirname "$0")

# One pass stops what it finds and says whether it found anything. A test host killed in a pass may have started a
# server just before it died, after that pass had looked: a pass that found something is followed by another.
sweep() {
  local found=1 pidfile proc pid cwd
  while IFS= read -r -d '' pidfile; do
    bash "$here/postgres.sh" kill "$(dirname "$(dirname "$pidfile")")"
    found=0
  done < <(find "$dir" -path '*/data/postmaster.pid' -print0 2>/dev/null)

  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    if [ "$pid" = $$ ] || [ "$pid" = "$PPID" ]; then continue; fi
    if grep -qzE 'VBCSCompiler|MSBuild\.dll|dotnet-build-server' "$proc/cmdline" 2>/dev/null; then continue; fi
    cwd=$(readlink "$proc/cwd" 2>/dev/null) || cwd=
    # The variable holds the path as mktemp gave it, which a symlink in TMPDIR makes differ from the resolved one.
    if [ "$cwd" = "$dir" ] || [[ "$cwd" == "$dir"/* ]] \
        || grep -qzxF -e "CORTEX_RUN_DIR=$dir" -e "CORTEX_RUN_DIR=$given" "$proc/environ" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      found=0
    fi
  done
  return $found
}

for _ in 1 2 3; do
  sweep || break
  sleep 0.5
done

rm -rf "$dir" || true
exit 0
