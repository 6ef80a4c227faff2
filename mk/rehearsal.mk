# Rollout rehearsal: three real Kubernetes control planes (management, edge-1, cloud-1) with kwok
# nodes, the real Fleet controller and one fleet-agent per downstream cluster, all plain processes
# on 127.0.0.1 (tests/rehearsal/, tools/rehearsal/). Every engine is pinned in this repository and
# built once from the Go module proxy into .tools/rehearsal/bin (caches under .cache/go).
K8S_VERSION  := v1.35.4
KWOK_VERSION := v0.8.0
REHEARSAL_BIN := $(TOOLS)/rehearsal/bin
K8S_BINS      := kube-apiserver kube-controller-manager kube-scheduler kubectl
REHEARSAL_ENGINES := $(addprefix $(REHEARSAL_BIN)/,$(K8S_BINS) etcd fleetcontroller fleetagent) \
                     $(STAMPS)/kwok-$(KWOK_VERSION)

# A control plane built by import path reports v0.0.0 unless the version is stamped in.
K8S_VERSION_LDFLAGS := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
  -X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=35 -X $(p).gitTreeState=clean)

TEST_SETUP += rehearsal-engines
# git daemon serves the rehearsal's repository; openssl makes the TLS files the guide's commands read.
APT_PACKAGES += git openssl

.PHONY: rehearsal-engines rehearsal rehearsal-down
rehearsal-engines: $(REHEARSAL_ENGINES) ## build the rehearsal's engines (Kubernetes, etcd, kwok, Fleet controller and agent)

$(addprefix $(REHEARSAL_BIN)/,$(K8S_BINS)): $(REHEARSAL_BIN)/%: tools/kubernetes/go.mod tools/kubernetes/go.sum
	@echo "==> building $* $(K8S_VERSION) (tools/kubernetes, cached under .cache/go)"
	@mkdir -p $(REHEARSAL_BIN)
	cd tools/kubernetes && nice -n 10 go build -trimpath -ldflags '-s -w $(K8S_VERSION_LDFLAGS)' \
	  -o $@.tmp k8s.io/kubernetes/cmd/$*
	mv $@.tmp $@

$(REHEARSAL_BIN)/etcd: tools/etcd/go.mod tools/etcd/go.sum tools/etcd/main.go
	@echo "==> building etcd (tools/etcd)"
	@mkdir -p $(REHEARSAL_BIN)
	cd tools/etcd && $(GO_BUILD) -o $@.tmp .
	mv $@.tmp $@

$(REHEARSAL_BIN)/fleetcontroller $(REHEARSAL_BIN)/fleetagent: $(REHEARSAL_BIN)/%: tools/fleetcli/go.mod tools/fleetcli/go.sum
	@echo "==> building $* (tools/fleetcli, the same Fleet release as the CLI)"
	@mkdir -p $(REHEARSAL_BIN)
	cd tools/fleetcli && $(GO_BUILD) -o $@.tmp github.com/rancher/fleet/cmd/$*
	mv $@.tmp $@

$(STAMPS)/kwok-$(KWOK_VERSION):
	@echo "==> building kwok $(KWOK_VERSION)"
	GOBIN=$(REHEARSAL_BIN) nice -n 10 go install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	@mkdir -p $(STAMPS) && touch $@

# The scenario is tests/rehearsal/ (also part of `make test`). KEEP=1 leaves the clusters running
# with .rehearsal/kubeconfig-{management,edge-1,cloud-1}; `make rehearsal-down` stops them.
rehearsal: rehearsal-engines gitops-tools venv ## roll commits out to real edge/cloud control planes with Fleet (KEEP=1 leaves them up)
	REHEARSAL_KEEP=$(KEEP) $(PY) -m pytest -p no:cacheprovider tests/rehearsal $(PYTEST_ARGS)
	@if [ -n "$(KEEP)" ] && [ "$(KEEP)" != 0 ]; then \
	  echo "==> the rehearsal is still running: kubectl --kubeconfig .rehearsal/kubeconfig-<management|edge-1|cloud-1> ..."; \
	  echo "    stop it with: make rehearsal-down"; fi

rehearsal-down: ## stop everything `make rehearsal KEEP=1` left running
	$(PY) -m tools.rehearsal down
