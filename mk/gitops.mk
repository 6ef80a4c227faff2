# GitOps area: the tools that render and check every Fleet bundle, and `make render` / `make plan`.
# Everything is built once from the Go module proxy (caches under .cache/go) or npm (under .tools),
# with a stamp per tool so warm runs do nothing. See clusters/README.md for the operator side.
HELM_VERSION        := v3.19.0
KUBECONFORM_VERSION := v0.7.0
ACTIONLINT_VERSION  := v1.7.12
DCLINT_VERSION      := 3.1.0
# Fleet's CLI comes from tools/fleetcli/go.mod (v0.16.0: the proxy refuses v0.16.1, see that file).
FLEET_BIN   := $(TOOLS)/bin/fleet
HELM_BIN    := $(TOOLS)/bin/helm
KUBECONFORM := $(TOOLS)/bin/kubeconform
ACTIONLINT  := $(TOOLS)/bin/actionlint
DCLINT      := $(TOOLS)/dclint/node_modules/.bin/dclint
# One stamp per tool and version: bumping a version above rebuilds that tool alone.
GITOPS_TOOLS := $(FLEET_BIN) $(STAMPS)/helm-$(HELM_VERSION) $(STAMPS)/kubeconform-$(KUBECONFORM_VERSION) \
                $(STAMPS)/actionlint-$(ACTIONLINT_VERSION) $(STAMPS)/dclint-$(DCLINT_VERSION)
GO_INSTALL := GOBIN=$(TOOLS)/bin nice -n 10 go install -trimpath -ldflags '-s -w'

TEST_SETUP += gitops-tools
# actionlint runs shellcheck on the workflow's `run:` scripts when it is on PATH.
APT_PACKAGES += shellcheck

GO_BUILD := nice -n 10 go build -trimpath -ldflags '-s -w'

.PHONY: gitops-tools render render-golden schemas plan vendor-lib
gitops-tools: $(GITOPS_TOOLS) ## build helm, kubeconform, actionlint, the Fleet CLI and install dclint

$(FLEET_BIN): tools/fleetcli/go.mod tools/fleetcli/go.sum
	@echo "==> building the Fleet CLI (tools/fleetcli, cached under .cache/go; about 2 min cold on 2 cores)"
	@mkdir -p $(TOOLS)/bin
	cd tools/fleetcli && $(GO_BUILD) -o $@.tmp github.com/rancher/fleet/cmd/fleetcli
	mv $@.tmp $@

# `go install pkg@version` builds outside any module, so each tool's own go.mod pins apply.
$(STAMPS)/helm-$(HELM_VERSION):
	@echo "==> building helm $(HELM_VERSION)"
	$(GO_INSTALL) helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/kubeconform-$(KUBECONFORM_VERSION):
	@echo "==> building kubeconform $(KUBECONFORM_VERSION)"
	$(GO_INSTALL) github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/actionlint-$(ACTIONLINT_VERSION):
	@echo "==> building actionlint $(ACTIONLINT_VERSION)"
	$(GO_INSTALL) github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/dclint-$(DCLINT_VERSION):
	@echo "==> installing dclint $(DCLINT_VERSION) under .tools/dclint (npm cache in .cache/npm)"
	@mkdir -p $(TOOLS)/dclint
	npm install --prefix $(TOOLS)/dclint --no-audit --no-fund --cache $(CACHE)/npm dclint@$(DCLINT_VERSION) >/dev/null
	@mkdir -p $(STAMPS) && touch $@

render: gitops-tools venv ## render every bundle for every cluster group into rendered/{edge,cloud,none}/
	$(PY) -m tools.gitops.render --out rendered

# The goldens are what every cluster group receives, reviewed in every diff; tests/gitops compares
# the working tree's rendering with them byte for byte.
render-golden: gitops-tools venv ## rewrite tests/golden/{edge,cloud,none}/ on purpose (what `make render` writes)
	$(PY) -m tools.gitops.render --out tests/golden

# Each chart carries the library chart packaged in charts/, committed (tools/gitops/vendor.py says why).
vendor-lib: gitops-tools venv ## rebuild the packaged library in every chart's charts/ where it differs from apps/lib
	$(PY) -m tools.gitops.vendor

# The schema definitions the charts share live once, in apps/lib/schema/definitions.json.
schemas: venv ## copy the shared schema definitions (and the group enum) into every chart's values.schema.json
	$(PY) -m tools.gitops.schemas

plan: gitops-tools venv ## per cluster group, what the working tree deploys compared with REV (make plan REV=HEAD~1)
	@test -n "$(REV)" || { echo "usage: make plan REV=<git revision>"; exit 2; }
	$(PY) -m tools.gitops.plan $(REV)
