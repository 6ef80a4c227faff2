"""Login: START the camera and the page logs in by itself once it sees a usable face."""

from __future__ import annotations

import streamlit as st

from .. import resources, session, webrtc
from ..client import LoginResult, RecognizerError, Unavailable
from .common import USERNAME, error_message, md_escape, unavailable_banner

KEY = "login-camera"


def finish_login(result: LoginResult) -> None:
    """Store the session and switch to the account view (which reads the expiry from /v1/me)."""
    resources.set_auth(resources.Auth(result.token, result.username, ""))
    st.session_state.pop("login_notice", None)
    st.rerun(scope="app")


def _username() -> str | None:
    name = (st.session_state.get("login_username") or "").strip().lower()
    return name or None


def _live_status() -> None:
    """Polls the capture thread: hands over a success, shows why frames are not used yet."""
    cap = resources.login_capture()
    ok = cap.take_success()
    if ok is not None:
        finish_login(ok)
    view = cap.snapshot()
    if view.frames:
        st.caption(
            f"Camera: {view.frames} frames received"
            + (" · checking your face…" if view.busy else (f" · {view.hint}" if view.hint else " · face found"))
        )
    out = view.outcome
    if out is not None and out.error is not None:
        st.warning(error_message(out.error, _username()))
    elif out is not None and out.unavailable is not None:
        unavailable_banner()


def _upload() -> None:
    with st.expander("No camera? Log in with a photo"):
        photo = st.file_uploader("A photo of your face", type=["jpg", "jpeg", "png"], key="login_photo")
        if st.button("Log in with this photo", disabled=photo is None, key="login_photo_go") and photo is not None:
            try:
                finish_login(
                    resources.client().login(photo.getvalue(), _username(), client_address=resources.browser_address())
                )
            except RecognizerError as exc:
                st.warning(error_message(exc, _username()))
            except Unavailable:
                unavailable_banner()


def render() -> None:
    # Any session cookie still in the browser is stale here (logged out, expired, deleted), unless
    # it could not be checked yet (recognizer down at load time: keep it, app.py retries).
    checked = st.session_state.get("session_checked")
    if checked and (session.cookie_token() or st.session_state.get("cookie_written")):
        session.clear()
    st.subheader("Log in with your face")
    notice = st.session_state.get("login_notice")
    if notice:
        st.success(notice["text"])
        if notice.get("shots"):
            st.image(list(notice["shots"]), width=120, caption=[f"frame {i + 1}" for i in range(len(notice["shots"]))])
    st.text_input(
        "Username (optional: leave empty to be recognised among all users)", key="login_username", max_chars=64
    )
    name = _username()
    if name and not USERNAME.match(name):
        st.caption("Usernames are 3–64 characters: a–z, 0–9, dot, dash, underscore.")
        name = None
    cap = resources.login_capture()
    cap.username = name
    cap.client_address = resources.browser_address()
    st.caption("Press START, look at the camera: you are logged in as soon as your face is clear.")
    status = st.container()  # above the camera, where people look
    ctx = webrtc.streamer(KEY, resources.settings(), cap)
    # Poll the capture thread only while the camera runs: no background reruns for idle visitors
    # (they would also race with widgets such as the photo uploader).
    with status:
        st.fragment(run_every=webrtc.POLL_S if webrtc.live(ctx) else None)(_live_status)()
    _upload()
    if name is None and (st.session_state.get("login_username") or "").strip():
        st.caption(f"Ignoring the username {md_escape(st.session_state.login_username)}.")
