#!/usr/bin/env bash
# make scaleout: several real Cortex.Sender processes on one Redis queue and one HTTP gateway stand-in on loopback, as
# Kubernetes runs pods: (a) throughput against the number of processes, (b) an HPA-like drain that adds processes one by
# one and then stops some with SIGTERM, (c) the global rate limit held across processes. Figures for the "Scale-out"
# section of docs/performance.md; every run also fails on a lost, duplicated or dead-lettered message.
# SCALEOUT_REPEAT (default 3) runs per figure, medians reported; SCALEOUT_SCENARIO all|processes|hpa|rate (default all);
# MESSAGES the HPA run's backlog (default 60000). About 17 minutes with the defaults on 2 cores (6 with SCALEOUT_REPEAT=1);
# every wait gives up after 30 s without progress, so it always stops by itself.
set -euo pipefail
repeat=${SCALEOUT_REPEAT:-3}
scenario=${SCALEOUT_SCENARIO:-all}
n=${MESSAGES:-60000}
exec bash "$(dirname "$0")/harness.sh" "scaleout --scenario $scenario --repeat $repeat --messages $n"
