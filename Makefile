# Cortex: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help build test demo perf clean

help:
	@echo "make demo   - start a local Redis, send 20,000 billing reminders through the sender to the fake gateway"
	@echo "make test   - build with warnings as errors and run every test (starts its own redis-server processes)"
	@echo "make perf   - measure engine and HTTP throughput (figures for docs/performance.md)"

build:
	dotnet build Cortex.sln -c Release -warnaserror -nologo

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

perf:
	bash scripts/perf.sh

clean:
	dotnet clean Cortex.sln -nologo -v q
