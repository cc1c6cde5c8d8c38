#!/usr/bin/env bash
# make loadtest: the load scenarios of issue #6 against a throwaway Redis and PostgreSQL, with an HTML report, a Markdown
# summary and the run's JSON in loadtests/results/<profile>/. The short profile takes a few minutes; FULL=1 adds the
# 1,000,000-message burst. SCENARIOS=1,3 runs a subset. Exits 1 if any check failed (the report says which).
set -euo pipefail
profile=short
if [ "${FULL:-0}" = "1" ]; then profile=full; fi
profile=${PROFILE:-$profile}
exec bash "$(dirname "$0")/harness.sh" \
  "loadtest --profile $profile --scenarios ${SCENARIOS:-1,2,3,4,5,6,7} --out loadtests/results/$profile"
