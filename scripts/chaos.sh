#!/usr/bin/env bash
# make chaos: the fault scenarios of issue #7 - K1 sender SIGKILLed (K1b one of two frozen with SIGSTOP past the consumer
# timeout, then continued), K2 sender SIGTERMed (against the harness's throwaway
# Redis), K3 Redis crashed and restarted on its AOF, K4 Redis away for 30 s (K4b under three senders, K4c silent under
# three: SIGSTOP, connections open; K4d one sender's connection dead without failing, through a proxy; each on a
# redis-server of its own), K5 gateway
# faults (5xx for a minute, 429 storm, slow answers, connection refused, 401, bodies not JSON; rows K5a..K5f, K5h..K5k
# through the Cloud API adapter, K5l slow answers to a pod paced by its rate limit, K5m the same to a one-worker pod,
# K5g three pods of one number),
# K6 scheduler faults (PostgreSQL crashed mid-run, schedulers racing, a scheduler killed mid-campaign or mid billing run, on
# a PostgreSQL and a redis-server of their own), K7 a poison message that kills its sender (K7b messages the gateway always fails) - with an
# HTML report, a Markdown summary and the run's JSON in loadtests/results/chaos/ (OUT=DIR elsewhere). PROFILE=smoke runs
# the tiny profile of make test; SCENARIOS=K3,K4 runs a subset (K1b, K4c, K4d, K5e,K5j, K7b: single rows). Exits 1 if any check failed (the report says which).
set -euo pipefail
profile=${PROFILE:-short}
exec bash "$(dirname "$0")/harness.sh" \
  "chaos --profile $profile --scenarios ${SCENARIOS:-K1,K2,K3,K4,K5,K6,K7} --out ${OUT:-loadtests/results/chaos}"
