"""Unit tests of the ui's non-media logic: config, HTTP client, frame quality, the real frame
callbacks fed synthetic frames, the 0.79 race fix, and the page flows under AppTest with the
webrtc component stubbed and the recognizer replaced by an httpx.MockTransport.

The end-to-end behaviour against the real recognizer is in test_ui_browser.py.
"""

from __future__ import annotations

import json
import time
from datetime import UTC
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import facefleet_ui
from facefleet_testing import faces
from facefleet_ui import capture, config, quality, resources, session, webrtc
from facefleet_ui.client import RecognizerClient, RecognizerError, SiteCache, SiteStatus, Unavailable
from facefleet_ui.views import site as site_view

APP = str(Path(facefleet_ui.__file__).resolve().parent / "app.py")
TOKEN = "eyJ0ZXN0.tok.en-123456"


def bgr(img) -> np.ndarray:
    return cv2.cvtColor(faces.as_array(img), cv2.COLOR_RGB2BGR)


def frame_of(img) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(bgr(img), format="bgr24")


# -- config --------------------------------------------------------------------------------------
def test_defaults_never_reach_public_ice_servers():
    s = config.load(env={})
    assert s.recognizer_url == "http://127.0.0.1:8000"
    assert webrtc.rtc_configuration(s) == {"iceServers": []}
    assert s.api_key is None and not s.webrtc_loopback


def test_ice_servers_api_key_and_loopback_from_env():
    turn = [{"urls": ["turn:turn.example:3478"], "username": "u", "credential": "c"}]
    s = config.load(
        env={
            "FACEFLEET_ICE_SERVERS": json.dumps(turn),
            "FACEFLEET_API_KEY": "k" * 20,
            "FACEFLEET_WEBRTC_LOOPBACK": "1",
            "RECOGNIZER_URL": "http://rec:8000/",
        }
    )
    assert webrtc.rtc_configuration(s) == {"iceServers": turn}
    assert s.recognizer_url == "http://rec:8000" and s.webrtc_loopback
    assert "k" * 20 not in repr(s), "the API key never appears in logs or the page"


def test_api_key_from_streamlit_secrets():
    assert config.load(env={}, secrets={"FACEFLEET_API_KEY": "s" * 20}).api_key == "s" * 20


@pytest.mark.parametrize("raw", ["not json", '{"urls": "stun:x"}', '[{"url": "stun:x"}]'])
def test_malformed_ice_servers_are_refused(raw):
    with pytest.raises(config.ConfigError):
        config.parse_ice_servers(raw)


def test_loopback_hook_offers_only_127_0_0_1(monkeypatch):
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    monkeypatch.setattr(webrtc, "_LOOPBACK_INSTALLED", False)
    webrtc.install_loopback(True)
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]


# -- HTTP client -----------------------------------------------------------------------------------
def client_for(handler) -> RecognizerClient:
    return RecognizerClient(config.load(env={"FACEFLEET_API_KEY": "k" * 20}), transport=httpx.MockTransport(handler))


def test_client_maps_contract_errors():
    def handler(req):
        if req.url.path == "/v1/login":
            return httpx.Response(429, json={"error": "locked_out", "detail": "wait"}, headers={"Retry-After": "42"})
        if req.url.path == "/v1/users":
            assert req.headers["X-API-Key"] == "k" * 20
            return httpx.Response(409, json={"error": "user_exists", "detail": "taken"})
        return httpx.Response(503, json={"error": "unavailable", "detail": "db down"})

    c = client_for(handler)
    with pytest.raises(RecognizerError) as e:
        c.login(b"jpeg", "alice")
    assert (e.value.code, e.value.retry_after_s) == ("locked_out", 42)
    with pytest.raises(RecognizerError, match="user_exists"):
        c.enrol("alice", [b"a", b"b"])
    with pytest.raises(Unavailable):
        c.me(TOKEN)


def test_client_turns_connection_errors_into_unavailable():
    def handler(req):
        raise httpx.ConnectError("refused", request=req)

    c = client_for(handler)
    with pytest.raises(Unavailable):
        c.login(b"jpeg")
    assert c.ready() is False


# -- frame quality -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "remote, header, trusted, want",
    [
        (None, None, (), "127.0.0.1"),  # make run: the browser on this host
        ("198.51.100.4", None, (), "198.51.100.4"),  # straight to the ui
        ("198.51.100.4", "203.0.113.9", (), "198.51.100.4"),  # an untrusted peer cannot name someone else
        ("10.42.0.15", "203.0.113.9", ("10.42.0.0/16",), "203.0.113.9"),  # through the ingress
        ("10.42.0.15", "203.0.113.66, 203.0.113.9", ("10.42.0.0/16",), "203.0.113.9"),  # a forged first entry
        ("10.42.0.15", "10.42.0.9", ("10.42.0.0/16",), "10.42.0.9"),  # every hop trusted
        ("10.42.0.15", "junk", ("10.42.0.0/16",), "junk"),  # reported as is; the recognizer decides
    ],
)
def test_browser_address_walks_the_forwarded_chain_from_the_right(remote, header, trusted, want):
    from facefleet_ui.forwarded import client_address

    assert client_address(remote, header, trusted) == want


def test_trusted_proxies_setting_is_checked():
    assert config.load(env={"FACEFLEET_TRUSTED_PROXIES": "10.42.0.0/16, 127.0.0.1"}).trusted_proxies == (
        "10.42.0.0/16",
        "127.0.0.1/32",
    )
    with pytest.raises(config.ConfigError):
        config.load(env={"FACEFLEET_TRUSTED_PROXIES": "ingress"})


def test_quality_accepts_one_sharp_face_and_says_why_not_otherwise():
    s = config.Settings()
    ok = quality.assess(bgr(faces.variant(faces.astronaut())), min_face_px=s.min_face_px, min_sharpness=s.min_sharpness)
    assert ok.usable and len(ok.faces) == 1
    blank = quality.assess(np.full((480, 640, 3), 120, np.uint8), min_face_px=64, min_sharpness=25)
    assert blank.reason == "no face in view"
    blurred = quality.assess(cv2.GaussianBlur(bgr(faces.astronaut()), (21, 21), 7), min_face_px=64, min_sharpness=25)
    assert not blurred.usable
    two = quality.assess(
        bgr(faces.side_by_side(faces.astronaut(), faces.variant(faces.astronaut()))), min_face_px=64, min_sharpness=25
    )
    assert two.reason == "more than one face in view"
    small = quality.assess(bgr(faces.astronaut().resize((256, 256))), min_face_px=64, min_sharpness=25)
    assert small.reason == "come closer: the face is too small"


# -- the real frame callbacks, fed synthetic frames --------------------------------------------------
def test_login_callback_logs_in_with_first_usable_frame_and_outlines_face():
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(200, json={"username": "alice", "token": TOKEN, "distance": 0.1, "threshold": 0.6})

    settings = config.Settings(retry_after_failure_s=0.0)
    cap = capture.LoginCapture(settings, lambda: RecognizerClient(settings, httpx.MockTransport(handler)))
    cap.username = "alice"
    cap.client_address = "203.0.113.7"
    cap.ANALYSE_EVERY_S = 0.0
    empty = av.VideoFrame.from_ndarray(np.full((480, 640, 3), 90, np.uint8), format="bgr24")
    cap(empty)
    assert not seen and cap.snapshot().hint == "no face in view"
    src = frame_of(faces.variant(faces.astronaut()))
    pristine = src.to_ndarray(format="bgr24").copy()
    out = cap(src)
    drawn = out.to_ndarray(format="bgr24")
    assert drawn.shape == pristine.shape and not np.array_equal(drawn, pristine), "the face is outlined"
    deadline = time.monotonic() + 10
    while (result := cap.take_success()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert result is not None and result.username == "alice"
    assert seen[-1].headers["X-Forwarded-For"] == "203.0.113.7"  # the browser's, for the per-client limit
    assert len(seen) == 1 and b'name="username"' in seen[0].content and b"\xff\xd8" in seen[0].content
    assert cap.snapshot().frames == 2


def test_login_callback_waits_after_a_failure():
    calls = []

    def handler(req):
        calls.append(req)
        return httpx.Response(401, json={"error": "no_match", "detail": "no"})

    settings = config.Settings(retry_after_failure_s=60.0)
    cap = capture.LoginCapture(settings, lambda: RecognizerClient(settings, httpx.MockTransport(handler)))
    cap.ANALYSE_EVERY_S = 0.0
    f = frame_of(faces.grace_hopper())
    cap(f)
    deadline = time.monotonic() + 10
    while cap.snapshot().outcome is None and time.monotonic() < deadline:
        time.sleep(0.02)
    for _ in range(3):
        cap(f)
    time.sleep(0.2)
    assert len(calls) == 1, "no attempt at frame rate after a rejection"
    assert cap.snapshot().outcome.error.code == "no_match"


def test_register_callback_keeps_spaced_usable_frames_only_when_armed():
    cap = capture.RegisterCapture(config.Settings(register_frames=3, register_interval_s=0.0))
    cap.ANALYSE_EVERY_S = 0.0
    f = frame_of(faces.variant(faces.astronaut()))
    cap(f)
    assert cap.snapshot().shots == ()
    cap.armed = True
    cap(av.VideoFrame.from_ndarray(np.full((480, 640, 3), 90, np.uint8), format="bgr24"))
    for _ in range(5):
        cap(f)
    shots = cap.snapshot().shots
    assert cap.complete() and len(shots) == 3 and all(s[:2] == b"\xff\xd8" for s in shots)


# -- the streamlit-webrtc 0.79 run-count race --------------------------------------------------------
def _race(monkeypatch, fix: bool) -> bool:
    """Render the real webrtc_streamer twice with the run counter jumping by two in between (as
    when a run is interrupted during the handshake); True when the context kept its worker."""
    import streamlit_webrtc.component as comp

    state: dict = {}
    count = {"n": 0}

    class FakeState(dict):
        __getattr__ = dict.__getitem__

    monkeypatch.setattr(comp.st, "session_state", state)
    monkeypatch.setattr(webrtc.st, "session_state", state)
    monkeypatch.setattr(comp, "get_this_session_info", lambda: object())
    monkeypatch.setattr(comp, "get_script_run_count", lambda _info: count["n"])
    monkeypatch.setattr(comp, "_component_func", lambda **kw: {"playing": True})
    monkeypatch.setattr(comp, "enhance_frontend_rtc_configuration", lambda c: c)

    class Worker:
        backend = "aiortc"
        local_description = None
        stopped = False

        def stop(self):
            self.stopped = True

        def update_video_callbacks(self, **kw):
            pass

    settings = config.Settings(webrtc_race_fix=fix)
    webrtc.streamer("cam", settings, lambda f: f)
    ctx = state["cam"]
    worker = Worker()
    ctx._set_worker(worker)
    ctx._set_state(comp.WebRtcStreamerState(playing=True, signalling=False))
    count["n"] += 2  # an interrupted run: the component was on screen all along
    webrtc.streamer("cam", settings, lambda f: f)
    return state["cam"]._get_worker() is worker and not worker.stopped


def test_race_kills_the_stream_without_the_fix(monkeypatch):
    assert _race(monkeypatch, fix=False) is False


def test_race_fix_keeps_the_stream(monkeypatch):
    assert _race(monkeypatch, fix=True) is True


def test_streamlit_webrtc_is_pinned():
    import importlib.metadata as md

    assert md.version("streamlit-webrtc") == "0.79.0", "the race fix is written against 0.79.0"
    pyproject = (Path(__file__).resolve().parents[2] / "ui" / "pyproject.toml").read_text()
    assert '"streamlit-webrtc==0.79.0"' in pyproject


# -- page flows under AppTest --------------------------------------------------------------------------
class FakeRecognizer:
    """Enough of the contract for page flows; `up=False` simulates a stopped recognizer."""

    def __init__(self) -> None:
        self.up = True
        self.deleted = False
        self.logged_out = False
        self.requests: list[httpx.Request] = []
        self.site: dict | None = None  # GET /v1/site's body; None: an older recognizer (404)
        self.errors: dict[tuple[str, str], tuple[int, str]] = {}  # (method, path) -> (status, code)

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        if not self.up:
            raise httpx.ConnectError("refused", request=req)
        path, auth = req.url.path, req.headers.get("Authorization")
        if (req.method, path) in self.errors:
            status, code = self.errors[req.method, path]
            return httpx.Response(status, json={"error": code, "detail": f"{code} (fake)"})
        if path == "/readyz":
            return httpx.Response(200, json={"status": "ready"})
        if path == "/v1/site" and self.site is not None:
            return httpx.Response(200, json=self.site)
        if path.startswith("/v1/me") and auth != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": "unauthorized", "detail": "bad token"})
        if path == "/v1/logout" and req.method == "POST":
            if auth != f"Bearer {TOKEN}":
                return httpx.Response(401, json={"error": "unauthorized", "detail": "bad token"})
            self.logged_out = True
            return httpx.Response(204)
        if path == "/v1/me" and req.method == "DELETE":
            self.deleted = True
            return httpx.Response(204)
        if path == "/v1/me":
            return httpx.Response(200, json={"username": "al_ice", "expires_at": "2099-01-01T00:00:00Z"})
        if path == "/v1/me/attempts":
            return httpx.Response(
                200, json={"attempts": [{"at": "2026-11-25T17:00:00Z", "result": "success", "distance": 0.1}]}
            )
        return httpx.Response(404, json={"error": "not_found", "detail": path})


@pytest.fixture()
def page(monkeypatch):
    fake = FakeRecognizer()
    rendered: list[str] = []
    monkeypatch.setattr(resources, "TRANSPORT", httpx.MockTransport(fake))
    monkeypatch.setattr(webrtc, "streamer", lambda key, settings, cb, **kw: rendered.append(key))
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {})
    monkeypatch.setenv("FACEFLEET_API_KEY", "k" * 20)
    resources.settings.clear()
    resources.client.clear()
    resources.site_cache.clear()
    at = AppTest.from_file(APP, default_timeout=30)
    yield at, fake, rendered
    resources.settings.clear()
    resources.client.clear()
    resources.site_cache.clear()


def texts(at) -> str:
    parts = [
        e.value
        for kind in ("title", "header", "subheader", "markdown", "caption", "success", "warning", "error", "info")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_first_page_is_login_with_camera(page):
    at, _, rendered = page
    at.run()
    assert not at.exception
    assert "Log in with your face" in texts(at) and rendered == ["login-camera"]
    assert "k" * 20 not in texts(at)


def test_cookie_session_is_restored_and_logout_clears_it(page, monkeypatch):
    at, fake, rendered = page
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {session.COOKIE: TOKEN})
    at.run()
    assert at.header[0].value == "Welcome, al\\_ice"  # Markdown-escaped: renders `Welcome, al_ice`
    assert "expires at 2099-01-01T00:00:00Z" in texts(at) and rendered == []
    at.button(key="logout").click().run()
    assert "You are logged out." in texts(at) and "Welcome" not in texts(at)
    assert fake.logged_out, "Log out did not revoke the token on the recognizer"


def test_logout_while_the_recognizer_is_down_still_ends_the_session(page, monkeypatch):
    at, fake, _ = page
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {session.COOKIE: TOKEN})
    at.run()
    assert at.header[0].value == "Welcome, al\\_ice"
    fake.up = False
    at.button(key="logout").click().run()
    assert "You are logged out here" in texts(at) and "stays valid until it expires" in texts(at)
    assert "Welcome" not in texts(at) and not fake.logged_out


def test_invalid_cookie_shows_login(page, monkeypatch):
    at, _, _ = page
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {session.COOKIE: "expired-token-123"})
    at.run()
    assert "Log in with your face" in texts(at) and not at.header


def test_successful_capture_switches_to_account_view(page):
    at, _, _ = page
    at.run()
    cap = at.session_state["login_capture"]
    cap._outcome = capture.LoginOutcome(ok=capture.LoginResult("al_ice", TOKEN))
    at.run()
    assert at.header[0].value == "Welcome, al\\_ice"


def test_rejected_capture_shows_message_and_keeps_camera(page):
    at, _, rendered = page
    at.run()
    cap = at.session_state["login_capture"]
    cap._outcome = capture.LoginOutcome(error=RecognizerError(401, "no_match", "no"))
    at.run()
    assert "Face not recognised" in texts(at) and rendered[-1] == "login-camera"


def test_lockout_says_how_long_to_wait(page):
    at, _, _ = page
    at.run()
    at.session_state["login_capture"]._outcome = capture.LoginOutcome(
        error=RecognizerError(429, "locked_out", "locked", retry_after_s=120)
    )
    at.run()
    assert "try again in 120 s" in texts(at)


def test_recognizer_down_shows_banner_not_traceback(page):
    at, fake, _ = page
    fake.up = False
    at.run()
    assert not at.exception
    assert any("The recognizer is unavailable" in e.value for e in at.error)


def test_delete_account_needs_confirmation(page, monkeypatch):
    at, fake, _ = page
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {session.COOKIE: TOKEN})
    at.run()
    at.button(key="delete").click().run()
    assert not fake.deleted and "cannot be undone" in texts(at)
    at.button(key="delete_confirm").click().run()
    assert fake.deleted and "are deleted" in texts(at)


def test_register_view_needs_api_key(page, monkeypatch):
    at, _, rendered = page
    monkeypatch.delenv("FACEFLEET_API_KEY")
    resources.settings.clear()
    at.run()
    at.radio(key="view").set_value("Register").run()
    assert "Registration is switched off" in texts(at) and "register-camera" not in rendered


def test_session_cookie_lifetime_follows_token():
    from datetime import datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert session.seconds_left("2026-01-01T00:10:00Z", now) == 600
    assert session.seconds_left("2025-12-31T23:00:00+00:00", now) == 0
    assert session.seconds_left("garbage", now) == 0


# -- the HttpOnly session cookie route --------------------------------------------------------------
def test_session_route_sets_httponly_cookie_only_for_fresh_tickets_from_this_origin():
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from facefleet_ui import session_route

    client = TestClient(Starlette(routes=session_route.routes()), base_url="http://ui.test")
    path = session_route.route_path()
    ok = client.post(path, content=session_route.seal(TOKEN, 600), headers={"Origin": "http://ui.test"})
    assert ok.status_code == 204
    cookie = ok.headers["set-cookie"]
    assert f"facefleet_session={TOKEN}" in cookie and "HttpOnly" in cookie and "Max-Age=600" in cookie
    assert "samesite=strict" in cookie.lower() and "Secure" not in cookie
    https = client.post(path, content=session_route.seal(TOKEN, 600), headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in https.headers["set-cookie"]
    stale = session_route.seal(TOKEN, 600, now=time.time() - 120)
    assert client.post(path, content=stale).status_code == 400
    assert client.post(path, content="forged" + session_route.seal(TOKEN, 600)).status_code == 400
    cross = client.post(path, content=session_route.seal(TOKEN, 600), headers={"Origin": "http://evil.test"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers
    gone = client.delete(path, headers={"Origin": "http://ui.test"})
    assert gone.status_code == 204 and "Max-Age=0" in gone.headers["set-cookie"]


def test_session_ticket_hides_the_token():
    from facefleet_ui import session_route

    ticket = session_route.seal(TOKEN, 60)
    assert TOKEN not in ticket and session_route.unseal(ticket) == (TOKEN, 60)


def test_outage_at_load_keeps_the_saved_session_and_adopts_it_when_back(page, monkeypatch):
    at, fake, _ = page
    cleared = []
    monkeypatch.setattr(session, "clear", lambda: cleared.append(1))
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {session.COOKIE: TOKEN})
    fake.up = False
    at.run()
    assert any("The recognizer is unavailable" in e.value for e in at.error)
    assert not cleared, "the cookie is kept while it cannot be checked"
    fake.up = True
    at.session_state["ready_checked_at"] = -1e9
    at.run()
    assert at.header and at.header[0].value == "Welcome, al\\_ice"
    assert not cleared


def test_rejected_cookie_is_cleared(page, monkeypatch):
    at, _, _ = page
    cleared = []
    monkeypatch.setattr(session, "clear", lambda: cleared.append(1))
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {session.COOKIE: "expired-token-123"})
    at.run()
    assert cleared and "Log in with your face" in texts(at)


def test_each_session_gets_its_own_short_lived_turn_credential(monkeypatch):
    settings = config.load(
        env={
            "FACEFLEET_TURN_URLS": "turn:turn.example:3478?transport=udp",
            "FACEFLEET_TURN_SECRET": "s" * 32,
            "FACEFLEET_TURN_TTL_S": "600",
        }
    )
    assert "s" * 32 not in repr(settings)
    state: dict = {}
    monkeypatch.setattr(webrtc.st, "session_state", state)
    clock = [1_000_000.0]
    first = webrtc.session_turn_server(settings, "cam", now=lambda: clock[0])
    assert first["username"].startswith("1000600:") and first["credential"] and first["urls"]
    clock[0] += 200  # reruns within half the lifetime keep the same credential
    assert webrtc.session_turn_server(settings, "cam", now=lambda: clock[0]) == first
    clock[0] += 200  # past half its lifetime, camera off: a fresh one
    renewed = webrtc.session_turn_server(settings, "cam", now=lambda: clock[0])
    assert renewed["username"].startswith("1001000:") and renewed != first
    other: dict = {}
    monkeypatch.setattr(webrtc.st, "session_state", other)
    assert webrtc.session_turn_server(settings, "cam", now=lambda: clock[0])["username"] != renewed["username"]
    config_out = webrtc.rtc_configuration(settings, renewed)
    assert config_out["iceServers"] == [renewed]
    assert webrtc.session_turn_server(config.load(env={}), "cam") is None  # no TURN configured


def test_readme_settings_table_is_the_declared_settings():
    """ui/README.md's table is generated from config.Settings: one declaration, never two."""
    readme = (Path(__file__).resolve().parents[2] / "ui" / "README.md").read_text()
    assert config.markdown_table() in readme, "regenerate it: python -m facefleet_ui.config"


# -- sites (v2): the site banner and a replica's own 503s --------------------------------------------
HOME_SITE = {
    "site": "home",
    "role": "home",
    "last_sync_at": None,
    "lag_s": None,
    "changes_behind": None,
    "offline": False,
    "stale": False,
    "max_staleness_s": None,
}


def replica_site(**changes) -> dict:
    """A replica's GET /v1/site body, shaped as recognizer/README.md says."""
    body = {
        "site": "edge-1",
        "role": "replica",
        "last_sync_at": "2026-12-01T10:00:00Z",
        "lag_s": 4.2,
        "changes_behind": 0,
        "offline": False,
        "stale": False,
        "max_staleness_s": 86400,
    }
    return body | changes


def test_client_reads_the_site_and_tolerates_an_older_recognizer():
    answer: dict = {"status": 200, "json": HOME_SITE}

    def handler(req):
        assert req.url.path == "/v1/site" and "X-API-Key" not in req.headers  # no auth on this route
        if answer.get("down"):
            raise httpx.ConnectError("refused", request=req)
        return httpx.Response(answer["status"], json=answer["json"])

    c = client_for(handler)
    assert c.site() == SiteStatus("home", "home")
    answer["json"] = replica_site(changes_behind=3, offline=True)
    got = c.site()
    assert got is not None and got.replica and got.offline and not got.stale
    assert (got.lag_s, got.changes_behind, got.max_staleness_s) == (4.2, 3, 86400)
    answer.update(status=404, json={"error": "not_found", "detail": "no such route"})
    assert c.site() is None, "an older recognizer without the route: no site banner"
    answer.update(status=200, json={"unexpected": True})
    assert c.site() is None
    answer["down"] = True
    with pytest.raises(Unavailable):
        c.site()


def test_client_keeps_a_replicas_503s_apart_from_an_outage():
    def handler(req):
        code = {"/v1/login": "replica_stale", "/v1/users": "home_unreachable"}.get(req.url.path, "unavailable")
        return httpx.Response(503, json={"error": code, "detail": "d"})

    c = client_for(handler)
    with pytest.raises(RecognizerError) as e:
        c.login(b"jpeg")
    assert (e.value.status, e.value.code) == (503, "replica_stale")
    with pytest.raises(RecognizerError, match="home_unreachable"):
        c.enrol("alice", [b"a"])
    with pytest.raises(Unavailable):  # the database is away: still the outage banner
        c.me(TOKEN)


@pytest.mark.parametrize(
    "body, age_s, level, needles, absent",
    [
        (HOME_SITE, 0, "caption", ["Site **home**", "home of this fleet's users"], ["synced"]),
        (replica_site(), 0, "caption", ["Site **edge\\-1**", "last synced with the home 4 s ago"], ["arriving"]),
        (replica_site(lag_s=50), 20, "caption", ["last synced with the home 1 min ago"], []),
        (replica_site(changes_behind=3), 0, "caption", ["3 changes from the home still arriving"], []),
        (
            replica_site(offline=True, lag_s=3900),
            0,
            "warning",
            ["is offline", "1 h 5 min ago", "not known at this site", "registering is paused"],
            [],
        ),
        (
            replica_site(offline=True, stale=True, lag_s=90000),
            0,
            "error",
            ["cut off from the home for too long", "1 d 1 h ago", "the limit is 1 d", "Logins are paused"],
            [],
        ),
        (
            replica_site(last_sync_at=None, lag_s=None, changes_behind=None, stale=True, offline=True),
            0,
            "error",
            ["has not copied the users from the home yet", "cannot reach the home right now"],
            ["ago"],
        ),
    ],
)
def test_site_banner_text(body, age_s, level, needles, absent):
    banner = site_view.describe(SiteStatus.from_json(body), age_s)
    assert banner.level == level, banner
    for needle in needles:
        assert needle in banner.text, banner.text
    for needle in absent:
        assert needle not in banner.text, banner.text


def test_site_banner_time_since_the_last_sync_and_its_clock():
    from datetime import datetime

    status = SiteStatus.from_json(replica_site(lag_s=None, last_sync_at="2026-12-01T10:00:00Z"))
    assert site_view.since_sync(status, now=datetime(2026, 12, 1, 10, 5, tzinfo=UTC)) == 300
    assert site_view.since_sync(SiteStatus.from_json(replica_site(lag_s=10)), age_s=4) == 14
    assert "10:00 UTC" in site_view._clock("2026-12-01T10:00:00Z", None)
    assert "11:00)" in site_view._clock("2026-12-01T10:00:00Z", "Europe/Berlin")  # the browser's zone
    assert "10:00 UTC" in site_view._clock("2026-12-01T10:00:00Z", "Not/AZone")
    assert site_view._clock("yesterday", None) == ""
    assert [site_view.ago(s) for s in (8, 300, 3600, 3900, 86400, 90000)] == [
        "8 s",
        "5 min",
        "1 h",
        "1 h 5 min",
        "1 d",
        "1 d 1 h",
    ]


def test_site_cache_asks_at_most_every_few_seconds_and_remembers_failures():
    now, calls = [0.0], []

    def fetch():
        calls.append(now[0])
        if len(calls) == 2:
            raise Unavailable("down")
        return SiteStatus("edge-1", "replica", lag_s=1.0)

    cache = SiteCache(fetch, ttl_s=5.0, clock=lambda: now[0])
    assert cache.get() == (SiteStatus("edge-1", "replica", lag_s=1.0), 0.0)
    now[0] = 3.0
    assert cache.get()[1] == 3.0 and len(calls) == 1  # the answer's age feeds since_sync
    now[0] = 6.0
    assert cache.get() == (None, 0.0)  # down: no banner, and no second try before the TTL
    now[0] = 9.0
    assert cache.get() == (None, 3.0) and len(calls) == 2
    now[0] = 12.0
    assert cache.get()[0] is not None and len(calls) == 3


def test_page_names_its_site(page):
    at, fake, _ = page
    fake.site = HOME_SITE
    at.run()
    assert not at.exception
    assert "Site **home** · the home of this fleet's users" in texts(at)


def test_replica_page_says_when_it_last_synced_and_that_it_is_offline(page):
    at, fake, _ = page
    fake.site = replica_site(offline=True, lag_s=3900)
    at.run()
    warning = "\n".join(w.value for w in at.warning)
    assert "Site **edge\\-1** is offline" in warning and "last synced with the home 1 h 5 min ago" in warning
    assert not any("The recognizer is unavailable" in e.value for e in at.error)


def test_older_recognizer_without_the_site_route_shows_no_site_banner(page):
    at, fake, _ = page
    assert fake.site is None  # GET /v1/site answers 404
    at.run()
    assert not at.exception and "Site " not in texts(at) and "Log in with your face" in texts(at)
    assert any(r.url.path == "/v1/site" for r in fake.requests)


def test_stale_replica_login_explains_why_instead_of_the_outage_banner(page):
    at, fake, _ = page
    fake.site = replica_site(stale=True, offline=True, lag_s=90000)
    fake.errors["POST", "/v1/login"] = (503, "replica_stale")
    at.run()
    cap = at.session_state["login_capture"]
    cap._attempt(b"jpeg", None)  # what the capture thread does with a usable frame, through the real client
    assert cap.snapshot().outcome.error.code == "replica_stale"
    at.run()
    assert "cut off from the home site for too long" in "\n".join(w.value for w in at.warning)
    assert not any("The recognizer is unavailable" in e.value for e in at.error)


def test_register_at_a_replica_cut_off_from_the_home_says_to_try_later(page):
    at, fake, _ = page
    fake.errors["POST", "/v1/users"] = (503, "home_unreachable")
    at.run()
    at.radio(key="view").set_value("Register").run()
    at.text_input(key="reg_username").set_value("new_user").run()
    at.checkbox(key="reg_consent").check().run()
    at.session_state["register_capture"]._shots = [b"one", b"two", b"three"]  # the camera's usable frames
    at.run()
    assert any(r.url.path == "/v1/users" for r in fake.requests)
    warning = "\n".join(w.value for w in at.warning)
    assert "Registering needs the connection to the home site" in warning and "try again later" in warning
    at.run()
    assert at.button(key="reg_retry").label == "Try again"  # nothing was stored: the person may retry
    assert not any("The recognizer is unavailable" in e.value for e in at.error)


def test_delete_account_at_a_replica_cut_off_from_the_home(page, monkeypatch):
    at, fake, _ = page
    fake.errors["DELETE", "/v1/me"] = (503, "home_unreachable")
    monkeypatch.setattr(session, "COOKIES_OVERRIDE", {session.COOKIE: TOKEN})
    at.run()
    at.button(key="delete").click().run()
    at.button(key="delete_confirm").click().run()
    assert not fake.deleted
    assert "Deleting your account needs the connection to the home site" in "\n".join(e.value for e in at.error)
    assert at.header[0].value == "Welcome, al\\_ice"
