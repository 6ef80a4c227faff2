"""HTTP client for the recognizer's v1 contract (DESIGN.md); the ui's only way to reach it.

Every failure becomes one of two exceptions so pages never show a traceback:
`Unavailable` (connection refused, timeout, 503: show the banner and retry later) and
`RecognizerError` (a contract error body: show its sentence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .config import Settings


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
        if resp.status_code == 503:
            raise Unavailable(_error_of(resp)[1] or "the recognizer is not ready")
        if resp.status_code >= 400:
            code, detail = _error_of(resp)
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


def _error_of(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
        return str(body.get("error", "error")), str(body.get("detail", ""))
    except ValueError:
        return "error", resp.text[:200]
