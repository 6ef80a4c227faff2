# Benchmarks (bench/README.md): NOT part of `make test` (tests/bench runs each suite once on a tiny
# input instead). Each suite compares against its baseline in the same run and writes
# bench/results/<suite>.json (+ PNG plots); `make bench` runs them one after the other (never in
# parallel: they would measure each other), then refreshes the tables in bench/README.md.
# Heavy work runs niced: the machine is shared. Pass options with BENCH_ARGS, e.g.
#   make bench-identify BENCH_ARGS="--http-sizes 1000,10000"
BENCH_NICE ?= nice -n 10
BENCH_ARGS ?=
BENCH_SUITES := engine login_latency identify load memory accuracy enrolment_accuracy sync

.PHONY: bench bench-report $(addprefix bench-,$(BENCH_SUITES)) bench-latency
bench: venv weights database ## run every benchmark suite one after another (bench/README.md says how long), refresh bench/README.md
	@failed=""; for s in $(BENCH_SUITES); do \
	  echo "==> bench $$s"; \
	  $(MAKE) --no-print-directory bench-$$s || failed="$$failed $$s"; \
	done; \
	if grep -q '^ui-bench:' mk/ui.mk 2>/dev/null; then \
	  echo "==> bench ui (the ui area's own suite)"; $(MAKE) --no-print-directory ui-bench || failed="$$failed ui"; \
	fi; \
	$(MAKE) --no-print-directory bench-report; \
	if [ -n "$$failed" ]; then echo "bench suites that failed:$$failed"; exit 1; fi

bench-accuracy: venv weights ## LFW View 1: facefleet vs DeepFace.verify (+ the small labelled sets)
	$(BENCH_NICE) $(PY) -m bench.accuracy $(BENCH_ARGS)

bench-enrolment_accuracy: venv weights ## LFW people with >= 4 images: enrol 3, log in with another (service rule, refusals counted)
	$(BENCH_NICE) $(PY) -m bench.enrolment_accuracy $(BENCH_ARGS)

bench-engine: venv weights ## dlib's ResNet in ONNX vs dlib's forward pass: per-chip latency, batched images/s, equality on all of LFW
	$(BENCH_NICE) $(PY) -m bench.engine $(BENCH_ARGS)

bench-login_latency: venv weights database ## warm HTTP login vs DeepFace.verify vs forward pass, 3 resolutions
	$(BENCH_NICE) $(PY) -m bench.login_latency $(BENCH_ARGS)

bench-latency: bench-login_latency

bench-identify: venv weights database ## 1:N identify at 1k..1M users vs DeepFace.find
	$(BENCH_NICE) $(PY) -m bench.identify $(BENCH_ARGS)

bench-load: venv weights database ## concurrent HTTP logins: throughput, p50/p99, errors
	$(BENCH_NICE) $(PY) -m bench.load $(BENCH_ARGS)

bench-memory: venv weights database ## peak RSS of the recognizer and the ui under load
	$(BENCH_NICE) $(PY) -m bench.memory $(BENCH_ARGS)

bench-sync: venv weights database ## fleet-wide users: propagation home -> replica, catch-up after an outage (replay vs copy), idle cost
	$(BENCH_NICE) $(PY) -m bench.sync $(BENCH_ARGS)

bench-report: ## rewrite the results tables in bench/README.md from bench/results/*.json
	$(PY) -m bench.report
