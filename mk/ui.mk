# ui area: the Streamlit page (ui/), its browser end-to-end tests (tests/ui/) and its benchmark.
# The browser is Debian's Chromium with its matching chromedriver (never a downloaded browser);
# iproute2 brings `ip`, used to bring `lo` up inside the tests' private network namespace.
APT_PACKAGES += chromium chromium-driver iproute2 fonts-dejavu-core
# coturn: the TURN server the turn chart runs, for tests/ui/test_turn.py (never started as a service)
APT_PACKAGES += coturn

.PHONY: ui-test ui-bench
ui-test: ## run the ui tests (AppTest units + real-browser end-to-end on loopback)
	$(PY) -m pytest tests/ui $(PYTEST_ARGS)

ui-bench: venv weights database ## START -> Welcome in a real browser, and stream-start reliability (bench/results/)
	$(PY) bench/ui_login_time.py
