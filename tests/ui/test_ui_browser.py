"""End-to-end: real Chromium, real ui, real recognizer and database, every packet on loopback.

The webcam is a generated video of a face that ships in a PyPI package (see ui_media). Each
test saves a screenshot of its final state under test-artifacts/ui/.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import shot

from facefleet_testing import faces
from facefleet_testing import ui_browser as B

# Generous: the module fixture (database + recognizer + ui) starts inside the first test's budget.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(480)]


def enrol(stack, username: str, image: bytes) -> None:
    with stack.rec.client(headers=stack.rec.headers, trust_env=False) as c:
        r = c.post("/v1/users", data={"username": username}, files=[("images", ("face.jpg", image, "image/jpeg"))])
        assert r.status_code == 201, r.text


def open_login(driver, stack) -> None:
    driver.get(stack.ui.url)
    B.wait_text(driver, "Log in with your face", timeout=30)


def login_with_camera(driver, stack) -> float:
    open_login(driver, stack)
    t0 = time.monotonic()
    B.click_camera_button(driver, "START")
    B.wait_text(driver, "Welcome, ", timeout=30)
    took = time.monotonic() - t0
    settle_account(driver)
    return took


def settle_account(driver) -> None:
    """Wait until the account view has replaced the login view (stale elements gone)."""
    B.wait_text(driver, "Logged in as", timeout=20)
    end = time.monotonic() + 10
    while "Log in with your face" in B.page_text(driver) and time.monotonic() < end:
        time.sleep(0.1)


def test_namespace_has_only_loopback(loopback_stack):
    assert loopback_stack.interfaces == ["lo"]


def test_login_with_enrolled_face(loopback_stack, open_browser, videos, username):
    enrol(loopback_stack, username, faces.jpeg(faces.astronaut()))
    d = open_browser(videos["astronaut"])
    login_with_camera(d, loopback_stack)
    text = B.page_text(d)
    shot(d, "login_enrolled_face")
    assert f"Welcome, {username}" in text
    assert "Logged in as" in text and "expires at" in text


def test_different_face_is_rejected(loopback_stack, open_browser, videos, username):
    enrol(loopback_stack, username, faces.jpeg(faces.astronaut()))
    d = open_browser(videos["grace_hopper"])
    open_login(d, loopback_stack)
    B.find(d, "css selector", "input[aria-label^='Username']").send_keys(username + "\n")
    time.sleep(0.5)
    B.click_camera_button(d, "START")
    B.wait_text(d, "Face not recognised", timeout=30)
    assert B.frames_received(d) > 0
    time.sleep(1)
    shot(d, "different_face_rejected")
    assert "Welcome" not in B.page_text(d)
    frames = B.frames_received(d)
    end = time.monotonic() + 15
    while B.frames_received(d) <= frames and time.monotonic() < end:
        time.sleep(0.2)
    assert B.frames_received(d) > frames and B.camera_button(d) == "STOP", "the camera keeps running"


def test_reload_keeps_session_and_logout_ends_it(loopback_stack, open_browser, videos, username):
    enrol(loopback_stack, username, faces.jpeg(faces.astronaut()))
    d = open_browser(videos["astronaut"])
    login_with_camera(d, loopback_stack)
    assert f"Welcome, {username}" in B.page_text(d)
    time.sleep(1.0)  # the cookie is written by the account view's script
    d.refresh()
    B.wait_text(d, f"Welcome, {username}", timeout=30)
    settle_account(d)
    shot(d, "reload_keeps_session")
    cookie = d.get_cookie("facefleet_session")
    assert cookie and cookie["sameSite"] == "Strict" and cookie["httpOnly"], cookie
    assert d.execute_script("return document.cookie").find("facefleet_session") == -1
    assert "token" not in d.current_url and cookie["value"] not in d.current_url
    B.click(d, "xpath", "//button[normalize-space()='Log out']")
    B.wait_text(d, "You are logged out.", timeout=20)
    time.sleep(1.0)
    d.refresh()
    B.wait_text(d, "Log in with your face", timeout=30)
    time.sleep(1.5)
    shot(d, "logged_out_after_reload")
    assert "Welcome" not in B.page_text(d)
    assert d.get_cookie("facefleet_session") is None


def test_register_through_page_then_login(loopback_stack, open_browser, videos, username):
    d = open_browser(videos["grace_hopper"])
    open_login(d, loopback_stack)
    B.click(d, "xpath", "//label[.//p[normalize-space()='Register']]")
    B.wait_text(d, "Register your face", timeout=20)
    B.find(d, "css selector", "input[aria-label='Username']").send_keys(username + "\n")
    B.click(d, "xpath", "//label[.//p[starts-with(normalize-space(), 'I agree')]]")
    time.sleep(0.5)
    B.click_camera_button(d, "START")
    B.wait_text(d, f"Registered {username}", timeout=40)
    shot(d, "registered_through_page")
    text = B.page_text(d)
    assert all(f"frame {i}" in text for i in (1, 2, 3)), "the frames used are shown"
    with loopback_stack.rec.client(headers=loopback_stack.rec.headers, trust_env=False) as c:
        assert c.get(f"/v1/users/{username}").json()["faces"] >= 3
    B.click_camera_button(d, "START")
    B.wait_text(d, f"Welcome, {username}", timeout=30)
    settle_account(d)
    shot(d, "login_after_register")


def test_upload_fallback_login(loopback_stack, open_browser, videos, username, tmp_path):
    enrol(loopback_stack, username, faces.jpeg(faces.astronaut()))
    photo = tmp_path / "me.jpg"
    photo.write_bytes(faces.jpeg(faces.variant(faces.astronaut(), scale=0.85, brightness=0.9)))
    d = open_browser(videos["grace_hopper"])  # the camera is never started
    open_login(d, loopback_stack)
    B.click(d, "xpath", "//summary[.//p[starts-with(normalize-space(), 'No camera?')]]")
    B.find(d, "css selector", "input[type='file']", displayed=False).send_keys(str(photo))
    B.wait_text(d, "me.jpg", timeout=20)
    B.click(d, "xpath", "//button[normalize-space()='Log in with this photo']")
    B.wait_text(d, f"Welcome, {username}", timeout=30)
    settle_account(d)
    shot(d, "upload_fallback_login")


def test_stream_starts_reliably(loopback_stack, open_browser, videos):
    """Ten camera starts in a row, each must deliver frames to the server and survive a burst of
    full reruns (checkbox clicks) while streaming: the streamlit-webrtc 0.79 run-count race (ui/README.md)
    killed some of them."""
    d = open_browser(videos["astronaut"])
    failures = []
    for i in range(10):
        start = B.stream_start_with_reruns(d, loopback_stack.ui.url)
        if not (start.ok and start.stopped):
            failures.append(f"start {i}: {start.why}")
            shot(d, f"stream_start_failure_{i}")
    shot(d, "stream_start_reliability")
    assert not failures, failures


def test_recognizer_stopped_shows_banner(loopback_stack, open_browser, videos):
    d = open_browser(videos["astronaut"])
    loopback_stack.rec.stop()
    try:
        open_login(d, loopback_stack)
        B.wait_text(d, "The recognizer is unavailable", timeout=20)
        B.click_camera_button(d, "START")
        time.sleep(4)
        shot(d, "recognizer_stopped_banner")
        text = B.page_text(d)
        assert "The recognizer is unavailable" in text
        assert "Traceback" not in text and "Error" not in text.replace("Retry", "")
    finally:
        loopback_stack.rec.start()
    d.refresh()
    B.wait_text(d, "Log in with your face", timeout=30)
    end = time.monotonic() + 20
    while "The recognizer is unavailable" in B.page_text(d) and time.monotonic() < end:
        time.sleep(0.2)
    assert "The recognizer is unavailable" not in B.page_text(d), "banner goes away once it is back"


@pytest.mark.shared
def test_miranda_video(loopback_stack, open_browser, username):
    shared = Path(faces.SHARED)
    video = shared / "data/video/miranda_single_face_640x360.mjpeg"
    photo = shared / "data/faces/face_recognition/examples/lin-manuel-miranda.png"
    if not (video.is_file() and photo.is_file()):
        pytest.skip(f"../shared is absent ({shared}): the Miranda video case needs it")
    enrol(loopback_stack, username, photo.read_bytes())
    d = open_browser(video)
    open_login(d, loopback_stack)
    B.find(d, "css selector", "input[aria-label^='Username']").send_keys(username + "\n")
    time.sleep(0.5)
    B.click_camera_button(d, "START")
    B.wait_text(d, f"Welcome, {username}", timeout=40)
    settle_account(d)
    shot(d, "miranda_login")
