#!/usr/bin/env bash
# make demo: 20,000 billing reminders through the real sender against the built-in fake gateway, on a throwaway
# local Redis (installed with apt-get if missing) that is stopped and removed at the end.
set -euo pipefail
exec bash "$(dirname "$0")/harness.sh" "demo --messages ${MESSAGES:-20000}"
