#!/usr/bin/env bash
# Throwaway Redis for the demo and measurements: `redis.sh start DIR` starts one on a free loopback port with
# its data in DIR and prints the port; `redis.sh stop DIR` stops it. Nothing outside DIR is touched.
set -euo pipefail

cmd=${1:?usage: redis.sh start|stop DIR}
dir=${2:?usage: redis.sh start|stop DIR}

# shellcheck source=free-port.sh
source "$(dirname "$0")/free-port.sh"

# Whether pid is a redis-server working in DIR (its --dir): ours, not a process that reused a pid we wrote down.
ours() {
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = redis-server ] && [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$(cd "$dir" && pwd -P)" ]
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    for _attempt in 1 2 3; do
      port=$(free_port)
      # In the background rather than --daemonize, so the pid is known at once. Its output goes to the log, not to
      # the caller's $(...), which would otherwise wait for it.
      redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no --daemonize no \
        >"$dir/redis.log" 2>&1 </dev/null &
      pid=$!
      echo "$pid" > "$dir/redis.pid"
      for _ in $(seq 1 100); do
        # Up when the server answering on the port is this process. A PING alone is not enough: if another Redis took
        # the port between free_port and the bind, ours exits on the bind error and the other one answers.
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        if [ "$(redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = "$pid" ]; then
          echo "$port" > "$dir/port"; echo "$port"; exit 0
        fi
        sleep 0.05
      done
      # A failed attempt goes before the next one: exited already, or still starting after 5 s.
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
    echo "redis.sh: redis-server did not answer; see $dir/redis.log" >&2
    exit 1
    ;;
  stop)
    # By pid, never by port: whatever answers on the port may be another Redis.
    if [ -f "$dir/redis.pid" ] && pid=$(cat "$dir/redis.pid") && ours "$pid"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.05
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    ;;
  *)
    echo "usage: redis.sh start|stop DIR" >&2; exit 2 ;;
esac
