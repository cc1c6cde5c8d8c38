#!/usr/bin/env bash
# make chaos: the fault scenarios of issue #7 (K1 SIGKILL, K2 SIGTERM) against a throwaway Redis, with an HTML report, a
# Markdown summary and the run's JSON in loadtests/results/chaos/. PROFILE=smoke runs the tiny profile of make test.
# Exits 1 if any check failed (the report says which).
set -euo pipefail
profile=${PROFILE:-short}
exec bash "$(dirname "$0")/harness.sh" "chaos --profile $profile --out loadtests/results/chaos"
