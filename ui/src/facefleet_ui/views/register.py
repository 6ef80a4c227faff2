"""Register: a username, consent, and a few camera frames taken over a couple of seconds."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from .. import resources, webrtc
from ..client import RecognizerError, Unavailable
from .common import USERNAME, error_message, md_escape, unavailable_banner

KEY = "register-camera"


def _username() -> str:
    return (st.session_state.get("reg_username") or "").strip().lower()


def enrol(username: str, images: Sequence[bytes]) -> None:
    """Enrol all frames at once (all or nothing on the recognizer's side), then go to login."""
    try:
        faces = resources.client().enrol(username, images)
    except RecognizerError as exc:
        st.session_state.reg_error = error_message(exc, username)
        st.session_state.reg_failed_for = username
        cap = resources.register_capture()
        cap.armed = False  # no automatic retry with the same name: the person decides (Try again)
        cap.reset()
        return
    except Unavailable:
        st.session_state.reg_error = "unavailable"
        resources.register_capture().reset()
        return
    st.session_state.pop("reg_error", None)
    st.session_state.login_notice = {
        "text": f"Registered {md_escape(username)} with {faces} face images. Press START to log in.",
        "shots": tuple(images),
    }
    st.session_state.switch_to = "Log in"
    st.session_state.prefill_login = username
    resources.register_capture().reset()
    st.rerun(scope="app")


def _live_status(username: str) -> None:
    cap = resources.register_capture()
    view = cap.snapshot()
    if cap.armed and cap.complete():
        enrol(username, view.shots)
        view = cap.snapshot()
    if view.frames:
        st.caption(f"Camera: {view.frames} frames received" + (f" · {view.hint}" if view.hint else " · face found"))
    if view.shots:
        st.image(list(view.shots), width=120, caption=[f"frame {i + 1}" for i in range(len(view.shots))])
    err = st.session_state.get("reg_error")
    if err == "unavailable":
        unavailable_banner()
    elif err:
        st.warning(err)


def render() -> None:
    settings = resources.settings()
    st.subheader("Register your face")
    if not settings.api_key:
        st.info("Registration is switched off on this site (no API key is configured).")
        webrtc.forget(KEY)
        return
    st.text_input("Username", key="reg_username", max_chars=64, help="3–64 characters: a–z, 0–9, dot, dash, underscore")
    st.checkbox(
        "I agree that facefleet stores a numeric template of my face (never the photo) "
        "to recognise me, until I delete my account.",
        key="reg_consent",
    )
    name = _username()
    valid = bool(USERNAME.match(name))
    if name and not valid:
        st.caption("Usernames are 3–64 characters: a–z, 0–9, dot, dash, underscore.")
    failed = st.session_state.get("reg_failed_for")
    if failed and failed == name and st.button("Try again", key="reg_retry"):
        st.session_state.pop("reg_failed_for", None)
        st.session_state.pop("reg_error", None)
        st.rerun()
    cap = resources.register_capture()
    cap.armed = valid and bool(st.session_state.get("reg_consent")) and failed != name
    st.caption(
        f"Press START and look at the camera: {settings.register_frames} frames are taken "
        f"over a couple of seconds and enrolled together."
    )
    status = st.container()  # above the camera, where people look
    ctx = webrtc.streamer(KEY, settings, cap)
    with status:
        st.fragment(run_every=webrtc.POLL_S if webrtc.live(ctx) else None)(_live_status)(name)
    with st.expander("No camera? Register with photos"):
        photos = st.file_uploader(
            "One or more photos of your face", type=["jpg", "jpeg", "png"], accept_multiple_files=True, key="reg_photos"
        )
        ready = bool(photos) and valid and bool(st.session_state.get("reg_consent"))
        if st.button("Register with these photos", disabled=not ready, key="reg_photos_go"):
            st.session_state.pop("reg_failed_for", None)
            enrol(name, [p.getvalue() for p in photos])
            st.rerun()
    if name and not valid:
        st.caption(f"{md_escape(name)} is not a valid username.")
