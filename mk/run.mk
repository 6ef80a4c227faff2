# `make run`: the database (unless MONGO_URL is set), the recognizer on 127.0.0.1:8000 and the ui on
# 127.0.0.1:8501, in the foreground and in make's process group; Ctrl-C stops everything.
# Secrets come from the environment or .secrets/recognizer.env (generated on first use).
.PHONY: run
run: venv weights database ## run the whole app on 127.0.0.1 (recognizer :8000, ui :8501); Ctrl-C stops it
	$(PY) tools/devstack.py
