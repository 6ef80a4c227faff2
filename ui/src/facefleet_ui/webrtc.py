"""streamlit-webrtc wiring: ICE configuration, the loopback switch, and the 0.79 race fix.

Why each piece exists:
- `rtc_configuration` always carries an explicit `iceServers` list (empty by default), because
  streamlit-webrtc otherwise fills in a public STUN server, or calls TURN credential services when
  certain tokens are in the environment: an offline edge node must never try either.
- aioice (aiortc's ICE) never offers 127.0.0.1. With FACEFLEET_WEBRTC_LOOPBACK=1 the ui offers
  only 127.0.0.1 host candidates, so a browser in a network namespace that has nothing but `lo`
  can connect (Chromium needs --allow-loopback-in-peer-connection). The hook is aioice's
  module-level `get_host_addresses`, the single place where it enumerates interfaces.
- streamlit-webrtc 0.79 resets a component's context ("orphaned context") when Streamlit's run
  counter moved by more than one since the component last rendered. The counter is bumped when a
  `script_finished` message is sent, and runs interrupted by a newer rerun, or a fast rerun during
  the signalling handshake, move it by two while the component was on screen all along; the reset
  then stops the worker and the stream dies (about one start in twenty, and after button clicks).
  This app decides itself when a component is gone: `forget()` whenever a view does not render it,
  and `streamer()` clears the library's run-count bookmark so its heuristic never fires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from . import turn
from .config import Settings

LOG = logging.getLogger(__name__)
_LOOPBACK_INSTALLED = False
POLL_S = 0.3  # how often a page polls its capture thread while the camera runs


def live(ctx: Any) -> bool:
    """Is the camera component signalling or playing (so the page should poll)?"""
    state = getattr(ctx, "state", None)
    return bool(state is not None and (state.playing or state.signalling))


def rtc_configuration(settings: Settings, turn_server: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"iceServers": [*settings.ice_servers, *([turn_server] if turn_server else [])]}


def session_turn_server(settings: Settings, key: str, now: Callable[[], float] = time.time) -> dict[str, Any] | None:
    """This session's TURN credential: minted once, renewed when half its lifetime is gone and the
    camera is not running (a running stream keeps the allocation it made)."""
    if not settings.turn_secret:
        return None
    cred: turn.TurnCredential | None = st.session_state.get("turn_credential")
    stale = cred is None or cred.expires_at - now() < settings.turn_ttl_s / 2
    if stale and not (cred is not None and live(st.session_state.get(key))):
        cred = turn.mint(settings.turn_secret, settings.turn_urls, settings.turn_ttl_s, now())
        st.session_state["turn_credential"] = cred
    assert cred is not None
    return cred.ice_server()


def install_loopback(enabled: bool) -> None:
    """Make aioice offer only 127.0.0.1 host candidates (idempotent, process-wide)."""
    global _LOOPBACK_INSTALLED
    if not enabled or _LOOPBACK_INSTALLED:
        return
    import aioice.ice

    def loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    aioice.ice.get_host_addresses = loopback_addresses
    _LOOPBACK_INSTALLED = True
    LOG.warning("FACEFLEET_WEBRTC_LOOPBACK=1: offering only 127.0.0.1 ICE candidates")


def forget(key: str) -> None:
    """The view that owns component `key` is not on screen: stop its worker and reset its state.

    The context object stays in session_state: the component's on_change callback can still fire
    for a frame or two while the browser tears the old iframe down, and it looks the key up.
    """
    ctx = st.session_state.get(key)
    if ctx is None or type(ctx).__name__ != "WebRtcStreamerContext":
        return
    from streamlit_webrtc.component import _reset_context  # pinned 0.79.0: see module docstring

    if ctx._get_worker() is not None or ctx.state.playing or ctx.state.signalling or ctx._sdp_answer_json:
        _reset_context(ctx)


def streamer(key: str, settings: Settings, video_frame_callback: Callable[[Any], Any], **kw: Any) -> Any:
    """`webrtc_streamer` with this app's ICE settings and the run-count race neutralised."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    install_loopback(settings.webrtc_loopback)
    ctx = st.session_state.get(key)
    if settings.webrtc_race_fix and ctx is not None and hasattr(ctx, "_last_rendered_run_count"):
        ctx._last_rendered_run_count = None
    return webrtc_streamer(
        key=key,
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration(settings, session_turn_server(settings, key)),
        # 640x480 at up to 15 fps is plenty for a face and keeps aiortc's VP8 work small.
        media_stream_constraints={
            "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 15, "max": 15}},
            "audio": False,
        },
        video_frame_callback=video_frame_callback,
        async_processing=True,
        **kw,
    )
