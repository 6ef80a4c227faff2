# Embedded database for `make run` and the tests: FerretDB v1.24.2 (SQLite backend, compiled in
# by default) built from the Go module proxy into .tools/bin. A `mongod` on PATH is preferred at
# run time by tools/devstack.py and tests/support/src/facefleet_testing/stack.py; this binary is the fallback.
FERRETDB_VERSION := v1.24.2
FERRETDB_MODULE  := github.com/FerretDB/FerretDB
FERRETDB_BIN     := $(TOOLS)/bin/ferretdb
FERRETDB_SRC     := $(CACHE)/ferretdb-src/$(FERRETDB_VERSION)
# FerretDB v1.24 needs Go >= 1.24 (GOTOOLCHAIN=local: no toolchain download); Debian's golang is too old.
GO ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)

TEST_SETUP += database

.PHONY: database
database: $(FERRETDB_BIN) ## build FerretDB (SQLite backend) into .tools/bin

# The module cache is read-only by design, so the module is copied into a writable folder; the
# version file must exist there before `go build`, or FerretDB panics at start.
$(FERRETDB_BIN): mk/database.mk
	@echo "==> building FerretDB $(FERRETDB_VERSION) (Go module proxy, cached under .cache/go)"
	@mkdir -p $(TOOLS)/bin $(dir $(FERRETDB_SRC))
	dir=$$($(GO) mod download -json $(FERRETDB_MODULE)@$(FERRETDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir"; \
	rm -rf $(FERRETDB_SRC); cp -r "$$dir" $(FERRETDB_SRC); chmod -R u+w $(FERRETDB_SRC); \
	echo $(FERRETDB_VERSION) > $(FERRETDB_SRC)/build/version/version.txt; \
	echo release > $(FERRETDB_SRC)/build/version/package.txt; \
	cd $(FERRETDB_SRC) && nice -n 10 $(GO) build -buildvcs=false -trimpath -ldflags '-s -w' -o $@.tmp ./cmd/ferretdb
	mv $@.tmp $@
	@$@ --version | sed -n 1p  # sed reads to the end: `head` would SIGPIPE the binary under pipefail
