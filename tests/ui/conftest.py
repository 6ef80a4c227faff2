"""Fixtures of the ui tests: the loopback-only stack (browser tests) and fake-webcam videos."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from facefleet_testing import faces, ui_browser, ui_media
from facefleet_testing.stack import DatabaseServer, RecognizerServer
from facefleet_testing.ui_stack import NamespaceUnavailable, UiServer, loopback_namespace, only_loopback_reachable

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"


@dataclass
class LoopbackStack:
    db: DatabaseServer
    rec: RecognizerServer
    ui: UiServer
    interfaces: list[str]


@pytest.fixture(scope="module")
def loopback_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackStack]:
    """Database + recognizer + ui, all inside a network namespace that has only `lo`."""
    if not ui_browser.available():
        pytest.skip("Chromium is not installed: run `make test-setup` (mk/ui.mk installs chromium)")
    work = tmp_path_factory.mktemp("ui-stack")
    try:
        ns = loopback_namespace()
        interfaces = ns.__enter__()
    except NamespaceUnavailable as exc:
        pytest.skip(f"browser tests need a private network namespace (run as root): {exc}")
    try:
        assert interfaces == ["lo"], interfaces
        assert only_loopback_reachable()
        with (
            DatabaseServer.start_new(work / "db") as db,
            RecognizerServer.start_new(db.url, work / "rec") as rec,
            UiServer(rec.url, rec.api_key, work / "ui").start() as ui,
        ):
            yield LoopbackStack(db, rec, ui, interfaces)
    finally:
        ns.__exit__(None, None, None)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("videos")
    return {
        "astronaut": ui_media.write_y4m(faces.astronaut(), out / "astronaut.y4m"),
        "grace_hopper": ui_media.write_y4m(faces.grace_hopper(), out / "grace_hopper.y4m"),
    }


@pytest.fixture()
def open_browser(tmp_path: Path) -> Iterator[Callable]:
    """open_browser(video) -> a Chromium whose webcam plays `video`; closed after the test."""
    drivers = []

    def _open(video: Path):
        driver = ui_browser.start(video, tmp_path / f"profile{len(drivers)}")
        drivers.append(driver)
        return driver

    yield _open
    for d in drivers:
        d.quit()


@pytest.fixture()
def username(loopback_stack: LoopbackStack) -> Iterator[str]:
    """A fresh username, deleted afterwards so 1:N logins of later tests see one match only."""
    name = "u_" + secrets.token_hex(4)
    yield name
    with loopback_stack.rec.client(headers=loopback_stack.rec.headers, trust_env=False) as c:
        c.delete(f"/v1/users/{name}")
    time.sleep(0.6)  # the recognizer refreshes its 1:N index every 0.5 s in tests


def shot(driver, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    ui_browser.screenshot(driver, path)
    return path
