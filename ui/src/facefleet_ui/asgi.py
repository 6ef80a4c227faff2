"""The ASGI application `python -m facefleet_ui` serves: the Streamlit page (app.py) plus the
session-cookie route (session_route.py), via Streamlit's `st.App`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from facefleet_ui.session_route import routes

app = st.App(str(Path(__file__).with_name("app.py")), routes=routes())
