# Python area: `make lint` (run by `make test`) and `make lock`. The settings of ruff and mypy live
# in the root pyproject.toml; the locks are pip-compile's, one for .venv and one per image.
PIP_COMPILE := nice -n 10 $(VENV)/bin/pip-compile -q --strip-extras --allow-unsafe --no-emit-index-url \
               --no-emit-find-links

.PHONY: lint lock
lint: venv ## ruff (lint, and format --check) over every Python file; mypy strict over recognizer and ui
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy recognizer/src/recognizer ui/src/facefleet_ui

# The image locks are resolved within the dev lock, so the tests run the versions the images ship.
lock: venv ## re-resolve the *.lock.txt files from the pyprojects (current pins kept where they fit; UPGRADE=1 takes the newest)
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --output-file requirements-dev.lock.txt \
	  recognizer/pyproject.toml ui/pyproject.toml requirements-test.txt
	$(PIP_COMPILE) --constraint requirements-dev.lock.txt --output-file recognizer/requirements.lock.txt \
	  recognizer/pyproject.toml
	$(PIP_COMPILE) --constraint requirements-dev.lock.txt --output-file ui/requirements.lock.txt ui/pyproject.toml
