# Sourced by redis.sh and postgres.sh. free_port prints a loopback port nothing listens on (bash's /dev/tcp connects
# only if something does); the callers retry their start on a race.
free_port() {
  local port
  while true; do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
}
