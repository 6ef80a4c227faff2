"""The ui at a replica site, against real sites: a home and a replica `edge-1` on two database
servers (facefleet_testing.sites). The banner's sentences come from what the real recognizers
answer on `GET /v1/site`, and the replica's 503s (`home_unreachable`, `replica_stale`) come
through the ui's own client; in real Chromium, the replica's page names its site, says it is
offline once the home is stopped, and still logs in a colleague who was enrolled at the home.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import shot

from facefleet_testing import faces, ui_browser
from facefleet_testing import ui_browser as B
from facefleet_testing.recognizer_api import enrol, img
from facefleet_testing.sites import FleetSites
from facefleet_testing.ui_stack import NamespaceUnavailable, UiServer, loopback_namespace
from facefleet_ui import config
from facefleet_ui.client import RecognizerClient, RecognizerError, SiteStatus
from facefleet_ui.views.common import error_message
from facefleet_ui.views.site import describe

pytestmark = pytest.mark.slow


def eventually(check, timeout_s: float = 20.0):
    """The first truthy result of `check()` within the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not within {timeout_s} s"
            return result
        time.sleep(0.2)


def site_of(client: RecognizerClient) -> SiteStatus:
    status = client.site()
    assert status is not None, "the recognizer has GET /v1/site"
    return status


def test_banner_and_refusals_from_a_real_home_and_replica(tmp_path: Path):
    edge_env = {"FACEFLEET_REPLICA_MAX_STALENESS_S": "8"}
    with FleetSites.start(tmp_path, edge_env=edge_env) as fleet:
        at_home = RecognizerClient(config.load(env={"RECOGNIZER_URL": fleet.home.url}))
        at_edge = RecognizerClient(
            config.load(env={"RECOGNIZER_URL": fleet.edge.url, "FACEFLEET_API_KEY": fleet.edge.api_key})
        )
        try:
            home = describe(site_of(at_home))
            assert (home.level, home.text) == ("caption", "Site **home** · the home of this fleet's users")
            synced = eventually(lambda: (s := site_of(at_edge)).last_sync_at is not None and s)
            banner = describe(synced)
            assert banner.level == "caption", banner
            assert banner.text.startswith("Site **edge\\-1** · last synced with the home ") and " s ago" in banner.text

            name = "u_" + secrets.token_hex(4)
            with fleet.home.client() as c:
                assert enrol(c, fleet.home, name, "hopper").status_code == 201
            fleet.wait_synced()
            assert at_edge.login(img("hopper2"), name).username == name

            fleet.home.stop()  # the uplink is gone
            offline = eventually(lambda: (s := site_of(at_edge)).offline and not s.stale and s)
            banner = describe(offline)
            assert banner.level == "warning" and "Site **edge\\-1** is offline" in banner.text, banner
            assert at_edge.login(img("hopper2"), name).username == name, "logins go on while offline"
            with pytest.raises(RecognizerError) as refused:
                at_edge.enrol("u_" + secrets.token_hex(4), [img("astronaut")])
            assert (refused.value.status, refused.value.code) == (503, "home_unreachable")
            assert "Registering needs the connection to the home site" in error_message(refused.value)

            stale = eventually(lambda: (s := site_of(at_edge)).stale and s)
            banner = describe(stale)
            assert banner.level == "error" and "cut off from the home for too long" in banner.text, banner
            assert "(the limit is 8 s)" in banner.text
            with pytest.raises(RecognizerError) as paused:
                at_edge.login(img("hopper2"), name)
            assert (paused.value.status, paused.value.code) == (503, "replica_stale")
            assert "Logins are paused at this site" in error_message(paused.value)

            fleet.home.start()  # back: the banner says so within a sync round
            back = eventually(lambda: not (s := site_of(at_edge)).offline and not s.stale and s)
            assert describe(back).level == "caption"
            fleet.wait_synced()
        finally:
            at_home.close()
            at_edge.close()


@dataclass
class SitesStack:
    fleet: FleetSites
    ui: UiServer  # the replica's page


@pytest.fixture()
def sites_stack(tmp_path: Path) -> Iterator[SitesStack]:
    """A home, a replica and the replica's ui, inside a network namespace that has only `lo`."""
    if not ui_browser.available():
        pytest.skip("Chromium is not installed: run `make test-setup` (mk/ui.mk installs chromium)")
    try:
        ns = loopback_namespace()
        ns.__enter__()
    except NamespaceUnavailable as exc:
        pytest.skip(f"browser tests need a private network namespace (run as root): {exc}")
    try:
        with (
            FleetSites.start(tmp_path / "sites") as fleet,
            UiServer(fleet.edge.url, fleet.edge.api_key, tmp_path / "ui").start() as ui,
        ):
            yield SitesStack(fleet, ui)
    finally:
        ns.__exit__(None, None, None)


@pytest.mark.browser
@pytest.mark.timeout(480)
def test_replica_page_logs_in_a_colleague_enrolled_at_the_home_also_offline(sites_stack, open_browser, videos):
    fleet, ui = sites_stack.fleet, sites_stack.ui
    name = "u_" + secrets.token_hex(4)
    with fleet.home.client(trust_env=False) as c:
        r = c.post(
            "/v1/users",
            headers=fleet.home.headers,
            data={"username": name},
            files=[("images", ("face.jpg", faces.jpeg(faces.astronaut()), "image/jpeg"))],
        )
        assert r.status_code == 201, r.text
    fleet.wait_synced()
    d = open_browser(videos["astronaut"])
    d.get(ui.url)
    B.wait_text(d, "Log in with your face", timeout=30)
    B.wait_text(d, "Site edge-1 · last synced with the home", timeout=20)
    assert d.title == "facefleet login · edge-1"
    shot(d, "site_replica_synced")
    fleet.home.stop()  # the uplink is cut: the page says so, and the colleague still gets in
    B.wait_text(d, "Site edge-1 is offline", timeout=30)
    assert "registering is paused" in B.page_text(d)
    B.click_camera_button(d, "START")
    B.wait_text(d, f"Welcome, {name}", timeout=40)
    B.wait_text(d, "Logged in as", timeout=20)  # the account view has replaced the login view
    shot(d, "site_replica_offline_login")
    assert "Site edge-1 is offline" in B.page_text(d)
