#!/usr/bin/env bash
# make demo: seeds a throwaway PostgreSQL with a day of charges, conversations and a campaign, runs one scheduler
# pass into a throwaway Redis, then drains it through the real sender against the built-in fake gateway. Both
# servers are installed with apt-get if missing, started on free ports, and stopped and removed at the end.
set -euo pipefail
exec bash "$(dirname "$0")/harness.sh" "demo --messages ${MESSAGES:-20000}"
