"""Pieces every view uses: the recognizer readiness banner and human messages for errors."""

from __future__ import annotations

import re
import time

import streamlit as st

from .. import resources
from ..client import RecognizerError

USERNAME = re.compile(r"^[a-z0-9_.-]{3,64}$")
UNAVAILABLE = "The recognizer is unavailable right now, so nobody can log in or register. Retrying automatically…"


def md_escape(text: str) -> str:
    """Escape Markdown so a username like `a_b_c` renders literally."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|>~<])", r"\\\1", text)


def unavailable_banner(extra: str | None = None) -> None:
    st.error(f"⚠️ {UNAVAILABLE}" + (f" ({extra})" if extra else ""), icon=None)


READY_CHECK_S = 2.5


def ready_banner() -> bool:
    """Checks /readyz and shows a banner while the recognizer is not ready; True when it is.
    Runs in the page's status fragment (views/site.py, every few seconds); full reruns (a WebRTC
    handshake makes several) reuse a check younger than READY_CHECK_S."""
    now = time.monotonic()
    last = st.session_state.get("ready_checked_at", -1e9)
    if now - last >= READY_CHECK_S or st.session_state.get("retry_banner"):
        st.session_state.recognizer_ready = resources.client().ready()
        st.session_state.ready_checked_at = now
    ready: bool = st.session_state.recognizer_ready
    if ready and st.session_state.pop("recognizer_was_down", False):
        st.rerun(scope="app")  # it is back: redo what failed (e.g. checking a saved session)
    if not ready:
        st.session_state.recognizer_was_down = True
        unavailable_banner()
        st.button("Retry now", key="retry_banner")
    return ready


def error_message(exc: RecognizerError, username: str | None = None, action: str = "Registering") -> str:
    """A sentence for a visitor; `action` names what needed the home (`home_unreachable`)."""
    who = f" as **{md_escape(username)}**" if username else ""
    match exc.code:
        case "no_match":
            return f"Face not recognised{who}. Look at the camera to try again, or register first."
        case "locked_out":
            wait = f" in {exc.retry_after_s} s" if exc.retry_after_s else " later"
            return f"Too many failed attempts{who}. You can try again{wait}."
        case "user_exists":
            return f"The username {md_escape(username or '')} is already taken. Choose another one."
        case "no_face" | "multiple_faces" | "face_too_small" | "not_an_image" | "image_too_large":
            return f"That image cannot be used: {exc.detail or exc.code}."
        case "invalid_username":
            return "Usernames are 3 to 64 characters: lowercase letters, digits, dot, dash, underscore."
        case "unauthorized":
            return "The ui is not authorised to do that (check its API key)."
        case "replica_stale":
            return (
                "Logins are paused at this site: it has been cut off from the home site for too long, so it "
                "cannot be sure who is still allowed in. They resume by themselves once the connection is back."
            )
        case "home_unreachable":
            return (
                f"{action} needs the connection to the home site, which this site cannot reach right now. "
                "Nothing was changed; please try again later."
            )
        case _:
            return f"{exc.detail or exc.code}"
