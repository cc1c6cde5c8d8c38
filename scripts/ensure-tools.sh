#!/usr/bin/env bash
# Installs what Cortex's tests and demo need on a fresh Debian machine, only when missing.
# CI runs as root with no stdin; a developer without root gets a clear message instead.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# PostgreSQL server binaries (initdb, pg_ctl): Debian keeps them off PATH, in /usr/lib/postgresql/VERSION/bin.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
for extra in "$@"; do
  case "$extra" in
    promtool) command -v promtool >/dev/null 2>&1 || need+=(prometheus) ;;
    node) command -v npm >/dev/null 2>&1 || need+=(nodejs npm) ;;
    kubectl)
      # `kubectl kustomize` renders k8s/ offline. The machine image ships kubectl (with kustomize v5); Debian's own
      # kubernetes-client is 1.20, whose kustomize predates components, so it is no substitute.
      if ! command -v kubectl >/dev/null 2>&1; then
        echo "ensure-tools: kubectl (1.27 or newer, for kustomize components) is not on PATH; install it to validate k8s/" >&2
        exit 1
      fi ;;
    *) echo "ensure-tools: unknown tool '$extra'" >&2; exit 2 ;;
  esac
done

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-tools: missing ${need[*]}; install them with apt-get (needs root)" >&2; exit 1
  fi
fi

echo "ensure-tools: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's package may start a system redis on 6379; Cortex never uses it (every script starts its own on a free port).
# Likewise Debian's postgresql package may create and start a system cluster on 5432; Cortex never uses it either
# (tests and scripts/postgres.sh run their own cluster in a temp dir on a free port).
