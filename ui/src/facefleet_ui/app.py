"""Streamlit entry point: `streamlit run` this file (or `python -m facefleet_ui`).

Routing: a verified session shows the account view; otherwise the visitor picks Log in (first)
or Register. Camera components of views not on screen are dropped explicitly (see webrtc.py).
"""

from __future__ import annotations

import logging

import streamlit as st

from facefleet_ui import resources, session, webrtc
from facefleet_ui.client import RecognizerError, Unavailable
from facefleet_ui.views import account, login, register, site
from facefleet_ui.views.common import unavailable_banner

LOG = logging.getLogger("facefleet_ui")
if not LOG.handlers:  # once per process (the script runs on every rerun)
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOG.addHandler(_handler)
    LOG.setLevel(resources.settings().log_level.upper())
VIEWS = ("Log in", "Register")


def restore_session() -> None:
    """Once per browser session: adopt the cookie's token if the recognizer still accepts it."""
    if st.session_state.get("session_checked"):
        return
    token = session.cookie_token()
    if token is None:
        st.session_state.session_checked = True
        return
    try:
        me = resources.client().me(token)
    except RecognizerError:  # expired or unknown: the login view clears the cookie
        st.session_state.session_checked = True
        return
    except Unavailable:  # cannot tell yet: try again on the next run
        unavailable_banner("your saved session will be checked when it is back")
        return
    resources.set_auth(resources.Auth(token, me.username, me.expires_at))
    st.session_state.session_checked = True


def main() -> None:
    here, _ = resources.site_cache().get()  # the browser tab names the site too
    title = f"facefleet login · {here.site}" if here is not None else "facefleet login"
    st.set_page_config(page_title=title, page_icon="🙂", layout="centered")
    st.title("facefleet")
    site.banners()  # the recognizer's readiness and this site, refreshed every few seconds
    restore_session()
    auth = resources.auth()
    if auth is not None:
        webrtc.forget(login.KEY)
        webrtc.forget(register.KEY)
        account.render(auth)
        return
    if "switch_to" in st.session_state:
        st.session_state.view = st.session_state.pop("switch_to")
    if "prefill_login" in st.session_state:
        st.session_state.login_username = st.session_state.pop("prefill_login")
    view = st.radio("What do you want to do?", VIEWS, horizontal=True, key="view", label_visibility="collapsed")
    if view == "Register":
        webrtc.forget(login.KEY)
        register.render()
    else:
        webrtc.forget(register.KEY)
        login.render()


try:
    main()
except Exception:  # never show a traceback to visitors; the log has it
    LOG.exception("page failed")
    st.error("Something went wrong on this page. Reload to try again.")
