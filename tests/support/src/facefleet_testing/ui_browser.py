"""Headless Debian Chromium driven by Selenium, with a video file as its webcam.

Never downloads a browser or driver: /usr/bin/chromium and /usr/bin/chromedriver come from
`make apt` (mk/ui.mk), and Selenium Manager is switched off.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def available() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def start(video: Path, profile: Path) -> webdriver.Chrome:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach the network
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        "--allow-loopback-in-peer-connection",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--metrics-recording-only",
        "--disable-features=MediaRouter",
        f"--user-data-dir={profile}",
        "--window-size=1000,1400",
    ):
        opts.add_argument(flag)
    service = Service(CHROMEDRIVER, log_output=str(profile.parent / "chromedriver.log"))
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_page_load_timeout(30)
    return driver


def page_text(driver: webdriver.Chrome) -> str:
    try:
        driver.switch_to.default_content()
        return driver.find_element(By.TAG_NAME, "body").text
    except (WebDriverException, StaleElementReferenceException):
        return ""


def wait_text(driver: webdriver.Chrome, *needles: str, timeout: float = 20.0) -> str:
    """Wait until any of `needles` is in the page text; return the one found."""
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        text = page_text(driver)
        for n in needles:
            if n in text:
                return n
        time.sleep(0.1)
    raise AssertionError(f"none of {needles!r} appeared within {timeout} s; page text:\n{text}")


def _camera_frame(driver: webdriver.Chrome):
    driver.switch_to.default_content()
    frames = driver.find_elements(By.CSS_SELECTOR, "iframe[title*='webrtc']")
    if not frames:
        raise NoSuchElementException("no streamlit-webrtc iframe")
    driver.switch_to.frame(frames[0])


def click_camera_button(driver: webdriver.Chrome, label: str, timeout: float = 20.0) -> None:
    """Click START/STOP inside the streamlit-webrtc iframe."""
    end = time.monotonic() + timeout
    xpath = (
        "//button[translate(normalize-space(.), 'abcdefghijklmnopqrstuvwxyz', "
        f"'ABCDEFGHIJKLMNOPQRSTUVWXYZ')='{label.upper()}']"
    )
    while True:
        try:
            _camera_frame(driver)
            buttons = driver.find_elements(By.XPATH, xpath)
            if buttons and buttons[0].is_enabled():
                buttons[0].click()
                driver.switch_to.default_content()
                return
        except (WebDriverException, StaleElementReferenceException):
            pass
        if time.monotonic() > end:
            driver.switch_to.default_content()
            raise AssertionError(f"no enabled {label} button in the camera component")
        time.sleep(0.1)


def frames_received(driver: webdriver.Chrome) -> int:
    """The page's own counter of frames that reached the server-side frame callback."""
    import re

    m = re.search(r"Camera: (\d+) frames received", page_text(driver))
    return int(m.group(1)) if m else 0


def screenshot(driver: webdriver.Chrome, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.switch_to.default_content()
    driver.save_screenshot(str(path))


def find(driver: webdriver.Chrome, by: str, selector: str, timeout: float = 20.0, displayed: bool = True):
    """Wait for an element (Streamlit renders a page in several steps, so a single look races it).

    `displayed=False` accepts hidden elements too, such as the file input behind an upload button.
    """
    end = time.monotonic() + timeout
    driver.switch_to.default_content()
    while True:
        try:
            for el in driver.find_elements(by, selector):
                if not displayed or el.is_displayed():
                    return el
        except (WebDriverException, StaleElementReferenceException):
            pass
        if time.monotonic() > end:
            what = f"{'displayed ' if displayed else ''}{selector!r}"
            raise AssertionError(f"no {what} within {timeout} s; page text:\n{page_text(driver)}")
        time.sleep(0.1)


def click(driver: webdriver.Chrome, by: str, selector: str, timeout: float = 20.0) -> None:
    """Click an element once it is displayed and enabled (a click on a disabled button is lost)."""
    end = time.monotonic() + timeout
    while True:
        try:
            el = find(driver, by, selector, timeout=max(0.1, end - time.monotonic()))
            if el.is_enabled():
                el.click()
                return
            if time.monotonic() > end:
                raise AssertionError(f"{selector!r} still disabled after {timeout} s; page text:\n{page_text(driver)}")
        except (StaleElementReferenceException, WebDriverException):
            if time.monotonic() > end:
                raise
        time.sleep(0.1)


def camera_button(driver: webdriver.Chrome) -> str:
    """'START' or 'STOP': which button the camera component shows right now ('' if unknown)."""
    try:
        _camera_frame(driver)
        for b in driver.find_elements(By.TAG_NAME, "button"):
            label = b.text.strip().upper()
            if label in ("START", "STOP"):
                return label
    except (WebDriverException, StaleElementReferenceException):
        pass
    finally:
        driver.switch_to.default_content()
    return ""


def wait_camera(driver: webdriver.Chrome, label: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while camera_button(driver) != label:
        if time.monotonic() > end:
            raise AssertionError(f"the camera component does not show {label} within {timeout} s")
        time.sleep(0.2)


@dataclass(frozen=True)
class StreamStart:
    """How one camera start went (see `stream_start_with_reruns`)."""

    ok: bool  # frames reached the server and kept flowing through a burst of reruns
    why: str  # "ok" or what went wrong, in one sentence
    first_frames_s: float  # START → the server had received 3 frames
    stopped: bool  # STOP brought the camera back to START within 30 s


def stream_start_with_reruns(driver: webdriver.Chrome, url: str) -> StreamStart:
    """One camera start in the Register view, then a burst of full reruns while streaming.

    The shared procedure of the stream-start test and the ui benchmark: the streamlit-webrtc 0.79
    run-count race killed about one start in twenty, and a rerun while streaming could end the stream.
    """
    driver.get(url)
    wait_text(driver, "Log in with your face", timeout=30)
    click(driver, "xpath", "//label[.//p[normalize-space()='Register']]")
    wait_text(driver, "Register your face", timeout=20)
    t0 = time.monotonic()
    click_camera_button(driver, "START")
    end = t0 + 20
    while frames_received(driver) < 3 and time.monotonic() < end:
        time.sleep(0.05)
    first = time.monotonic() - t0
    before = frames_received(driver)
    if before < 3:
        return StreamStart(False, f"{before} frames in 20 s, camera shows {camera_button(driver)}", first, False)
    for _ in range(3):  # a burst of full reruns while streaming (each click is one)
        click(driver, "xpath", "//label[.//p[starts-with(normalize-space(), 'I agree')]]")
        time.sleep(0.2)
    end = time.monotonic() + 12
    while frames_received(driver) < before + 3 and time.monotonic() < end:
        time.sleep(0.05)
    after = frames_received(driver)
    if after == before or camera_button(driver) != "STOP":
        return StreamStart(
            False,
            f"stream stalled after a rerun ({before} -> {after} frames), camera shows {camera_button(driver)}",
            first,
            False,
        )
    click_camera_button(driver, "STOP")  # a clean stop, as a person would, before the next start
    try:
        wait_camera(driver, "START", timeout=30)
    except AssertionError as exc:
        return StreamStart(True, f"ok, but {exc}", first, False)
    return StreamStart(True, "ok", first, True)
