#!/usr/bin/env bash
# Throwaway Redis for the demo and measurements: `redis.sh start DIR` starts one on a free loopback port with
# its data in DIR and prints the port; `redis.sh stop DIR` stops it. Nothing outside DIR is touched.
set -euo pipefail

cmd=${1:?usage: redis.sh start|stop DIR}
dir=${2:?usage: redis.sh start|stop DIR}

# shellcheck source=free-port.sh
source "$(dirname "$0")/free-port.sh"

case "$cmd" in
  start)
    mkdir -p "$dir"
    for _attempt in 1 2 3; do
      port=$(free_port)
      redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
      for _ in $(seq 1 100); do
        if redis-cli -p "$port" ping >/dev/null 2>&1; then echo "$port" > "$dir/port"; echo "$port"; exit 0; fi
        sleep 0.05
      done
    done
    echo "redis.sh: redis-server did not answer; see $dir/redis.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/port" ]; then
      redis-cli -p "$(cat "$dir/port")" shutdown nosave >/dev/null 2>&1 || true
    fi
    if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
      kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    fi
    ;;
  *)
    echo "usage: redis.sh start|stop DIR" >&2; exit 2 ;;
esac
