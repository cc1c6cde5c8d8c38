#!/usr/bin/env bash
# Throwaway PostgreSQL for the demo and measurements: `postgres.sh start DIR` starts one on a free loopback port with
# its data in DIR and prints the port; `postgres.sh stop DIR` stops it; `postgres.sh kill DIR` stops it at once
# (pg_ctl stop -m immediate: no checkpoint, the data is thrown away after). Nothing outside DIR is touched.
# PostgreSQL refuses to run as root: as root, DIR is given to the postgres user and the binaries run as it.
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop|kill DIR}
dir=${2:?usage: postgres.sh start|stop|kill DIR}

# Debian's layout: /usr/lib/postgresql/15/bin, else the highest installed version.
bin_dir() {
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then echo /usr/lib/postgresql/15/bin; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
    echo "postgres.sh: PostgreSQL server binaries are not installed: run scripts/ensure-tools.sh or 'apt-get install postgresql'" >&2
    exit 1
  fi
  echo "$found"
}

# Runs a PostgreSQL binary, as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# shellcheck source=free-port.sh
source "$(dirname "$0")/free-port.sh"

case "$cmd" in
  start)
    bin=$(bin_dir)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
      chown -R postgres "$dir"
      if ! runuser -u postgres -- test -w "$dir"; then
        echo "postgres.sh: user postgres cannot write $dir (a parent directory is closed to it); pick a DIR under /tmp" >&2
        exit 1
      fi
    fi
    # cd: initdb and pg_ctl go back to the working directory, which must be one the postgres user can enter.
    cd "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { echo "postgres.sh: initdb failed; see $dir/initdb.log" >&2; exit 1; }
    fi
    for _attempt in 1 2 3; do
      port=$(free_port)
      # -k '': TCP only; a socket path may not pass 107 bytes, and nothing here connects by socket.
      if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
          -o "-p $port -k '' -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB" \
          start >/dev/null 2>&1; then
        echo "$port" > "$dir/port"; echo "$port"; exit 0
      fi
    done
    echo "postgres.sh: PostgreSQL did not start; see $dir/log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      bin=$(bin_dir)
      (cd "$dir" && as_pg "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1) || true
    fi
    ;;
  kill)
    if [ -f "$dir/data/postmaster.pid" ]; then
      bin=$(bin_dir)
      (cd "$dir" && as_pg "$bin/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1) || true
    fi
    ;;
  *)
    echo "usage: postgres.sh start|stop|kill DIR" >&2; exit 2 ;;
esac
