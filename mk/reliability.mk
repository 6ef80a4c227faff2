# Reliability and abuse (tests/reliability/, see its README.md). The short versions run in
# `make test`; `make soak` runs the same tests longer: FACEFLEET_SOAK_S seconds of mixed load by
# SOAK_CLIENTS clients, two database outages instead of one, the full-size (25-megapixel) image
# case and more fuzzing examples. Numbers land in test-artifacts/reliability/*.json.
SOAK_S             ?= 300
SOAK_CLIENTS       ?= 8
SOAK_FUZZ_EXAMPLES ?= 30

.PHONY: soak
soak: venv weights database ## long reliability run: 8 clients x 5 min mixed load, DB outages, fuzzing (test-artifacts/reliability/)
	@mkdir -p test-artifacts/reliability
	FACEFLEET_SOAK_S=$(SOAK_S) FACEFLEET_SOAK_CLIENTS=$(SOAK_CLIENTS) FACEFLEET_FUZZ_EXAMPLES=$(SOAK_FUZZ_EXAMPLES) \
	  $(PY) -m pytest tests/reliability -s -p no:cacheprovider \
	  --junitxml=test-artifacts/reliability/junit-soak.xml $(PYTEST_ARGS)
