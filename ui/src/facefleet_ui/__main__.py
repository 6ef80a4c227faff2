"""`python -m facefleet_ui`: run the Streamlit server with the flags this app needs.

Defaults: 127.0.0.1:8501, headless, no usage statistics, no file watcher, no error details in
the page, no network access of its own. --host/--port (or FACEFLEET_UI_HOST / FACEFLEET_UI_PORT)
override the address (Streamlit's STREAMLIT_SERVER_ADDRESS / _PORT are honoured as well; the
container listens on 0.0.0.0); Streamlit's own STREAMLIT_SERVER_BASE_URL_PATH sets
the path prefix behind an ingress. Extra arguments are passed to `streamlit run`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from facefleet_ui import config

APP = Path(__file__).with_name("asgi.py")  # st.App: the page plus the session-cookie route


def command(argv: list[str] | None = None) -> list[str]:
    settings = config.load()
    parser = argparse.ArgumentParser(prog="python -m facefleet_ui", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", default=settings.port)
    args, rest = parser.parse_known_args(argv or [])
    host, port = args.host, str(args.port)
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        port,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "minimal",
        "--global.developmentMode",
        "false",
        *rest,
    ]


def main() -> None:
    cmd = command(sys.argv[1:])
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
