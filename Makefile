# Cortex: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help build test demo perf scaleout loadtest chaos bench clean

help:
	@echo "make demo     - local Redis + PostgreSQL: seed a day of charges, run one scheduler pass, drain it through the sender"
	@echo "make test     - build with warnings as errors and run every test (starts its own redis-server and PostgreSQL)"
	@echo "make perf     - measure engine, HTTP and scheduler enqueue throughput (figures for docs/performance.md)"
	@echo "make loadtest - the load scenarios (burst, steady rate, rate limit, gateway faults, scheduler, ceilings, bad input) with pass/fail against the targets; HTML report in loadtests/results/; FULL=1 adds the 1,000,000 burst"
	@echo "make chaos    - fault injection (issue #7): sender SIGKILLed and SIGTERMed mid-drain, Redis crashed and away, gateway faults, PostgreSQL crashed under the scheduler, schedulers racing and killed, a poison message that kills its sender, messages the gateway always fails; lost, duplicates and recovery times against the targets; report in loadtests/results/chaos/"
	@echo "make scaleout - several sender processes on one queue: throughput per process count, scale-out and SIGTERM scale-in mid-run, global rate (docs/performance.md)"
	@echo "make bench    - BenchmarkDotNet micro-benchmarks of the hot paths (ns and bytes per message) into bench/results/; FILTER='*Envelope*' picks some"

build:
	dotnet build Cortex.sln -c Release -warnaserror -nologo

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

perf:
	bash scripts/perf.sh

scaleout:
	bash scripts/scaleout.sh

loadtest:
	bash scripts/loadtest.sh

chaos:
	bash scripts/chaos.sh

bench:
	bash scripts/bench.sh

clean:
	dotnet clean Cortex.sln -nologo -v q
