"""Frame callbacks for streamlit-webrtc: judge each frame, outline the face, capture.

They run on aiortc's worker thread, not the Streamlit script thread, so they only touch their
own lock-protected state; the page polls `snapshot()` from a fragment. The login attempt itself
runs on a one-thread executor as soon as a usable frame arrives, so no page round trip sits
between the first good frame and the recognizer's answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import av
import numpy as np

from . import quality
from .client import LoginResult, RecognizerClient, RecognizerError, Unavailable
from .config import Settings

LOG = logging.getLogger("facefleet_ui.capture")


@dataclass
class LoginOutcome:
    """The latest login attempt: exactly one of ok / error / unavailable is set."""

    ok: LoginResult | None = None
    error: RecognizerError | None = None
    unavailable: str | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class CaptureView:
    frames: int
    hint: str | None
    busy: bool = False
    outcome: LoginOutcome | None = None
    shots: tuple[bytes, ...] = ()


class _Base:
    # Judge at most this often; frames in between reuse the last boxes for the outline. Keeps the
    # callback cheap on small edge nodes (VP8 decode + encode already cost most of a core).
    ANALYSE_EVERY_S = 0.1

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._frames = 0
        self._hint: str | None = "waiting for the camera"
        self._last_q: quality.Quality | None = None
        self._last_t = 0.0

    def _judge(self, frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, quality.Quality, bool]:
        """(pristine copy, frame to draw on, quality, fresh): `fresh` is False when the quality is
        reused from a recent frame; only fresh judgements may trigger a capture."""
        bgr = frame.to_ndarray(format="bgr24")
        now = time.monotonic()
        fresh = self._last_q is None or now - self._last_t >= self.ANALYSE_EVERY_S
        q = self._last_q
        if fresh or q is None:
            q = quality.assess(bgr, min_face_px=self.settings.min_face_px, min_sharpness=self.settings.min_sharpness)
            self._last_q, self._last_t = q, now
        with self._lock:
            self._frames += 1
            self._hint = q.reason
            if self._frames == 1:
                LOG.info("first camera frame received (%dx%d)", bgr.shape[1], bgr.shape[0])
        return (bgr.copy() if fresh else bgr), bgr, q, fresh

    @staticmethod
    def _out(bgr: np.ndarray, frame: av.VideoFrame) -> av.VideoFrame:
        out = av.VideoFrame.from_ndarray(bgr, format="bgr24")
        out.pts = frame.pts
        if frame.time_base is not None:
            out.time_base = frame.time_base
        return out


class LoginCapture(_Base):
    """Logs in with the first usable frame; after a failure waits `retry_after_failure_s`
    (or the lock-out's Retry-After) before trying again, so a stranger does not hammer the
    recognizer at frame rate."""

    def __init__(self, settings: Settings, client_factory: Callable[[], RecognizerClient]) -> None:
        super().__init__(settings)
        self._client_factory = client_factory
        self._client: RecognizerClient | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facefleet-login")
        self._busy = False
        self._outcome: LoginOutcome | None = None
        self._not_before = 0.0
        self.username: str | None = None  # set by the page each run (1:1 when given)
        self.client_address: str | None = None  # the browser's, set by the page each run
        self.enabled = True

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        raw, bgr, q, fresh = self._judge(frame)
        label = None
        with self._lock:
            go = (
                fresh
                and q.usable
                and self.enabled
                and not self._busy
                and (self._outcome is None or self._outcome.ok is None)
                and time.monotonic() >= self._not_before
            )
            if go:
                self._busy = True
            if self._busy:
                label = "checking..."
        if go:
            self._pool.submit(self._attempt, quality.to_jpeg(raw), self.username, self.client_address)
        return self._out(quality.outline(bgr, q, label), frame)

    def _attempt(self, jpeg: bytes, username: str | None, client_address: str | None = None) -> None:
        outcome = LoginOutcome()
        started = time.monotonic()
        wait = self.settings.retry_after_failure_s
        try:
            if self._client is None:
                self._client = self._client_factory()
            outcome.ok = self._client.login(jpeg, username or None, client_address=client_address)
        except RecognizerError as exc:
            outcome.error = exc
            if exc.retry_after_s:
                wait = max(wait, float(exc.retry_after_s))
        except Unavailable as exc:
            outcome.unavailable = str(exc)
        except Exception as exc:  # never let the capture thread die silently
            outcome.unavailable = f"{type(exc).__name__}: {exc}"
        LOG.info(
            "login attempt (%s) took %.3f s: %s",
            "1:1" if username else "1:N",
            time.monotonic() - started,
            "ok" if outcome.ok else (outcome.error.code if outcome.error else "unavailable"),
        )
        with self._lock:
            self._outcome = outcome
            self._busy = False
            self._not_before = time.monotonic() + wait

    def snapshot(self) -> CaptureView:
        with self._lock:
            return CaptureView(self._frames, self._hint, self._busy, self._outcome)

    def take_success(self) -> LoginResult | None:
        """Hand a successful login to the page once, and reset for the next visitor."""
        with self._lock:
            if self._outcome is not None and self._outcome.ok is not None:
                ok, self._outcome = self._outcome.ok, None
                return ok
            return None


class RegisterCapture(_Base):
    """Keeps `register_frames` usable frames taken at least `register_interval_s` apart (different
    moments give the enrolment some variety); the page enrols them together."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._shots: list[bytes] = []
        self._last = 0.0
        self.armed = False  # the page arms it once a username and consent are given

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        raw, bgr, q, fresh = self._judge(frame)
        now = time.monotonic()
        with self._lock:
            want = self.armed and len(self._shots) < self.settings.register_frames
            if want and fresh and q.usable and now - self._last >= self.settings.register_interval_s:
                self._shots.append(quality.to_jpeg(raw))
                self._last = now
            label = (
                f"captured {len(self._shots)}/{self.settings.register_frames}"
                if self.armed
                else "enter a username and tick consent"
            )
        return self._out(quality.outline(bgr, q, label if q.usable or not self.armed else None), frame)

    def snapshot(self) -> CaptureView:
        with self._lock:
            return CaptureView(self._frames, self._hint, shots=tuple(self._shots))

    def complete(self) -> bool:
        with self._lock:
            return len(self._shots) >= self.settings.register_frames

    def reset(self) -> None:
        with self._lock:
            self._shots.clear()
            self._last = 0.0
