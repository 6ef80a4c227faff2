# `make run`: the database (unless MONGO_URL is set), the recognizer on 127.0.0.1:8000 and the ui on
# 127.0.0.1:8501, in the foreground and in make's process group; Ctrl-C stops everything.
# `make run-sites`: that home plus an edge site `edge-1` syncing from it (its own FerretDB on :27117,
# recognizer :8100, ui :8601; tools/devsites.py). Both sites honour FACEFLEET_API_KEY, MONGO_URL (the
# home's database) and every other FACEFLEET_* setting from the environment.
# Secrets come from the environment or .secrets/recognizer.env (generated on first use); the edge's
# site credential and token secret from .secrets/edge-1.env (issued by the home on first use).
.PHONY: run run-sites
run: venv weights database ## run the whole app on 127.0.0.1 (recognizer :8000, ui :8501); Ctrl-C stops it
	$(PY) tools/devstack.py

run-sites: venv weights database ## the home of `make run` plus an edge site syncing from it (recognizer :8100, ui :8601)
	$(PY) tools/devstack.py --sites
