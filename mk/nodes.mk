# Node checks (tests/nodes/, pytest-testinfra): is a machine fit for a group (preflight), does a
# joined node run what it should (postflight). See tests/nodes/README.md.
#   make check-nodes GROUP=edge HOSTS=ssh://pi@10.0.3.21,ssh://pi@10.0.3.22 [ROLE=agent]
#   make check-nodes INVENTORY=tests/nodes/inventory.example.yaml [GROUP=cloud] PHASE=postflight
# Optional: RANCHER_URL=https://rancher.example.com THRESHOLDS=my-thresholds.yaml
#           SSH_CONFIG=~/.ssh/config SSH_IDENTITY_FILE=~/.ssh/id_ed25519
#           RECORD=folder (saves each host's command outputs, replayable as test fixtures)
# Runs pytest with tests/nodes/check-nodes.ini and no auto-loaded plugins (fast, and apart from
# the rest of the suite). Writes $(NODES_OUT)/nodes-<group|all>-<phase>.xml (JUnit) and .json
# (NODES_OUT=test-artifacts); exits non-zero when a check fails or a host is unreachable.

# The proof tests start a throwaway sshd on 127.0.0.1 and reach it with ssh.
APT_PACKAGES += openssh-server openssh-client curl

PHASE ?= preflight
ROLE  ?= server
NODES_OUT ?= test-artifacts
NODES_TAG  = $(or $(GROUP),all)-$(PHASE)
NODES_ARGS = $(if $(INVENTORY),--nodes-inventory "$(INVENTORY)") \
  $(if $(HOSTS),--nodes-hosts "$(HOSTS)") $(if $(GROUP),--nodes-group "$(GROUP)") \
  --nodes-role "$(ROLE)" $(if $(THRESHOLDS),--nodes-thresholds "$(THRESHOLDS)") \
  $(if $(RANCHER_URL),--nodes-rancher-url "$(RANCHER_URL)") \
  $(if $(SSH_CONFIG),--nodes-ssh-config "$(SSH_CONFIG)") \
  $(if $(SSH_IDENTITY_FILE),--nodes-ssh-identity-file "$(SSH_IDENTITY_FILE)") \
  $(if $(RECORD),--nodes-record "$(RECORD)")

.PHONY: check-nodes
check-nodes: venv ## check hosts: GROUP=edge HOSTS=ssh://user@host (or INVENTORY=file) [PHASE=postflight]
	@case "$(PHASE)" in preflight|postflight) ;; *) echo "PHASE must be preflight or postflight" >&2; exit 2;; esac
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(PY) -m pytest \
	  -c tests/nodes/check-nodes.ini -p tools.nodecheck.plugin -p pytest_timeout --timeout=900 \
	  -q --no-header --tb=no -rN -o junit_suite_name=nodes-$(NODES_TAG) \
	  --junitxml=$(NODES_OUT)/nodes-$(NODES_TAG).xml --nodes-report $(NODES_OUT)/nodes-$(NODES_TAG).json \
	  $(NODES_ARGS) tests/nodes/check_$(PHASE).py
