#!/usr/bin/env bash
# What a payload costs Redis when a queue script touches it (docs/reliability.md, "Bad input"): Redis CPU per MB of
# payload, read from INFO cpu around each step, on a throwaway redis-server. Usage: lua-string-cost.sh [SIZE] [COUNT]
# (default 100 payloads of 1 MB).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-1048576}
count=${2:-100}
dir=$(mktemp -d)
trap 'bash scripts/redis.sh stop "$dir"; rm -rf "$dir"' EXIT
port=$(bash scripts/redis.sh start "$dir")
cli() { redis-cli -p "$port" "$@"; }

head -c "$size" /dev/zero | tr '\0' a > "$dir/payload"
cpu() { cli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.6f", s }'; }
fill() { cli del ready dead >/dev/null; cli -x eval "for i = 1, $count do redis.call('LPUSH', KEYS[1], ARGV[1]) end" 1 ready < "$dir/payload" >/dev/null; }
measure() {
  local name=$1; shift
  fill
  local before after
  before=$(cpu)
  "$@" >/dev/null
  after=$(cpu)
  awk -v n="$name" -v b="$before" -v a="$after" -v mb="$(awk -v s="$size" -v c="$count" 'BEGIN { print s * c / 1048576 }')" \
    'BEGIN { printf "%-48s %5.2f ms of Redis CPU per MB\n", n, (a - b) * 1000 / mb }'
}
popped() { cli eval "for i = 1, $count do redis.call('RPOP', KEYS[1]) end" 1 ready; }
moved() { cli eval "for i = 1, $count do redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') end" 2 ready dead; }
wrapped() { cli eval "for i = 1, $count do redis.call('LPUSH', KEYS[2], '{\"reason\":\"x\"}\n' .. redis.call('RPOP', KEYS[1])) end" 2 ready dead; }
to_client() { for _ in $(seq 1 "$count"); do echo 'RPOP ready'; done | cli; }

echo "$count payloads of $size bytes, $(redis-server --version | cut -d" " -f1-3)"
measure "RPOP inside a script (a Lua string)" popped
measure "LMOVE inside a script (its reply a Lua string)" moved
measure "RPOP, then header + payload, LPUSH (script)" wrapped
measure "RPOP to a client, no script" to_client
