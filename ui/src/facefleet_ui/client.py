"""HTTP client for the recognizer's v1 contract (DESIGN.md); the ui's only way to reach it.

Every failure becomes one of two exceptions so pages never show a traceback:
`Unavailable` (connection refused, timeout, 503: show the banner and retry later) and
`RecognizerError` (a contract error body: show its sentence). The two 503s of a replica site
(`replica_stale`, `home_unreachable`) are `RecognizerError`s: the recognizer is up and says why
it refuses, and the page explains that instead of the "recognizer unavailable" banner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .config import Settings

# 503s that are answers, not outages (DESIGN.md v2: edge sites).
SITE_ERRORS = frozenset({"replica_stale", "home_unreachable"})


class Unavailable(Exception):
    """The recognizer could not answer (down, slow or its database unreachable)."""


@dataclass
class RecognizerError(Exception):
    status: int
    code: str
    detail: str
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class LoginResult:
    username: str
    token: str
    distance: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class Me:
    username: str
    expires_at: str


@dataclass(frozen=True)
class Attempt:
    at: str
    result: str
    distance: float | None


@dataclass(frozen=True)
class SiteStatus:
    """`GET /v1/site`: which site this recognizer is, and on a replica how current its users are.
    The sync fields are None at the home (and on a replica that has never synced: last_sync_at)."""

    site: str
    role: str  # "home" or "replica"
    last_sync_at: str | None = None
    lag_s: float | None = None
    changes_behind: int | None = None
    offline: bool = False
    stale: bool = False
    max_staleness_s: float | None = None

    @property
    def replica(self) -> bool:
        return self.role == "replica"

    @classmethod
    def from_json(cls, body: Any) -> SiteStatus:
        """Parse the route's body; ValueError when it is not the contract's shape."""
        if not isinstance(body, dict) or not isinstance(body.get("site"), str) or not body["site"]:
            raise ValueError(f"not a site status: {body!r}")

        def num(key: str) -> float | None:
            value = body.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

        behind = num("changes_behind")
        last = body.get("last_sync_at")
        return cls(
            site=body["site"],
            role=str(body.get("role") or "home"),
            last_sync_at=last if isinstance(last, str) and last else None,
            lag_s=num("lag_s"),
            changes_behind=None if behind is None else int(behind),
            offline=body.get("offline") is True,
            stale=body.get("stale") is True,
            max_staleness_s=num("max_staleness_s"),
        )


class RecognizerClient:
    """Thin synchronous wrapper; safe to share between the script thread and the capture thread."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self._api_key = settings.api_key
        self._http = httpx.Client(
            base_url=settings.recognizer_url,
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            transport=transport,
            trust_env=False,  # never route loopback or cluster traffic through a proxy
        )

    def close(self) -> None:
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TransportError as exc:  # connect errors, timeouts, resets
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            code, detail = _error_of(resp)
            if resp.status_code == 503 and code not in SITE_ERRORS:
                raise Unavailable(detail or "the recognizer is not ready")
            retry = resp.headers.get("Retry-After")
            raise RecognizerError(
                resp.status_code,
                code,
                detail,
                int(float(retry)) if retry and retry.replace(".", "", 1).isdigit() else None,
            )
        return resp

    def _admin(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key} if self._api_key else {}

    @staticmethod
    def _bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # -- contract ---------------------------------------------------------------------------
    def ready(self) -> bool:
        try:
            return self._http.get("/readyz", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def site(self) -> SiteStatus | None:
        """Where this recognizer stands (no auth); None from an older recognizer without the route
        (404) or with an answer that is not the contract's. Unavailable when it cannot answer."""
        try:
            resp = self._http.get("/v1/site", timeout=2.0)
        except httpx.TransportError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise Unavailable(f"GET /v1/site answered {resp.status_code}")
        try:
            return SiteStatus.from_json(resp.json())
        except ValueError:
            return None

    def login(self, image: bytes, username: str | None = None, *, client_address: str | None = None) -> LoginResult:
        """client_address: the browser's, so the recognizer's per-client limit counts the person."""
        data = {"username": username} if username else {}
        headers = {"X-Forwarded-For": client_address} if client_address else {}
        resp = self._request(
            "POST", "/v1/login", data=data, headers=headers, files={"image": ("frame.jpg", image, "image/jpeg")}
        )
        body = resp.json()
        return LoginResult(body["username"], body["token"], body.get("distance"), body.get("threshold"))

    def enrol(self, username: str, images: Sequence[bytes]) -> int:
        files = [("images", (f"frame{i}.jpg", img, "image/jpeg")) for i, img in enumerate(images)]
        resp = self._request(
            "POST", "/v1/users", data={"username": username, "consent": "true"}, files=files, headers=self._admin()
        )
        return int(resp.json().get("faces", len(images)))

    def me(self, token: str) -> Me:
        body = self._request("GET", "/v1/me", headers=self._bearer(token)).json()
        return Me(body["username"], body["expires_at"])

    def attempts(self, token: str) -> list[Attempt]:
        body = self._request("GET", "/v1/me/attempts", headers=self._bearer(token)).json()
        return [Attempt(a.get("at", ""), a.get("result", ""), a.get("distance")) for a in body.get("attempts", [])]

    def delete_me(self, token: str) -> None:
        self._request("DELETE", "/v1/me", headers=self._bearer(token))

    def logout(self, token: str) -> None:
        """Revoke the token on the recognizer (POST /v1/logout)."""
        self._request("POST", "/v1/logout", headers=self._bearer(token))


class SiteCache:
    """`GET /v1/site`, asked at most every `ttl_s` per ui process (every visitor's page shows it);
    a failure is remembered as long, so a recognizer that is down costs no extra waiting."""

    def __init__(
        self, fetch: Callable[[], SiteStatus | None], ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch, self._ttl_s, self._clock = fetch, ttl_s, clock
        self._lock = threading.Lock()
        self._value: SiteStatus | None = None
        self._at = -1e18

    def get(self) -> tuple[SiteStatus | None, float]:
        """(status or None, seconds since it was fetched)."""
        with self._lock:
            now = self._clock()
            if now - self._at >= self._ttl_s:
                try:
                    self._value = self._fetch()
                except Unavailable:
                    self._value = None
                self._at = now = self._clock()
            return self._value, now - self._at


def _error_of(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
        return str(body.get("error", "error")), str(body.get("detail", ""))
    except ValueError:
        return "error", resp.text[:200]
