"""A replica's HTTP client of its home: the two read routes, and forwarding of user writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from recognizer.config import Settings
from recognizer.errors import ErrorCode, FacefleetError
from recognizer.sync.wire import ChangesPage, SnapshotEnd, SnapshotStart, UserState

SEQ_HEADER = "X-Facefleet-Seq"
TIMEOUT_S = 10.0


class HomeUnreachable(Exception):
    """The home did not answer (network, TLS, timeout) or answered 5xx."""


class CursorExpired(Exception):
    """410 cursor_expired: the replica must make a full copy."""


class HomeClient:
    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = settings.home_url
        self._client = httpx.Client(
            base_url=settings.home_url,
            headers={"Authorization": f"Bearer {settings.sync_credential}", "User-Agent": f"facefleet/{settings.site}"},
            timeout=TIMEOUT_S,
            verify=settings.home_ca_file or True,
            transport=transport,
        )
        self.bytes_received = 0
        self.requests = 0

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            r = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise HomeUnreachable(f"{type(exc).__name__}: {exc}") from exc
        self.requests += 1
        self.bytes_received += len(r.content)
        self._check(r, path)
        return r

    @staticmethod
    def _check(r: httpx.Response, path: str) -> None:
        if r.status_code == 410:
            raise CursorExpired()
        if r.status_code == 401:
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "The home refused this site's credential (revoked?).")
        if r.status_code != 200:
            raise HomeUnreachable(f"{path} answered {r.status_code}: {r.text[:200]}")

    def changes(self, after: int, limit: int) -> ChangesPage:
        return ChangesPage.model_validate_json(self._get("/v1/sync/changes", {"after": after, "limit": limit}).content)

    def snapshot(self) -> Iterator[SnapshotStart | UserState | SnapshotEnd]:
        """The home's users, line by line as they arrive; HomeUnreachable if the stream breaks."""
        try:
            with self._client.stream("GET", "/v1/sync/snapshot") as r:
                self.requests += 1
                if r.status_code != 200:
                    r.read()
                    self._check(r, "/v1/sync/snapshot")
                for line in r.iter_lines():
                    self.bytes_received += len(line) + 1
                    if not line:
                        continue
                    obj = json.loads(line)
                    if "head" in obj:
                        yield SnapshotStart.model_validate(obj)
                    elif obj.get("end"):
                        yield SnapshotEnd.model_validate(obj)
                    else:
                        yield UserState.model_validate(obj)
        except httpx.HTTPError as exc:
            raise HomeUnreachable(f"the snapshot broke off: {type(exc).__name__}: {exc}") from exc

    def forward(
        self, method: str, path: str, *, data: dict[str, str] | None = None, files: list[Any] | None = None
    ) -> httpx.Response:
        """Send a user write to the home with the site credential; 503 home_unreachable when it cannot answer."""
        try:
            r = self._client.request(method, path, data=data, files=files, timeout=60.0)
        except httpx.HTTPError as exc:
            raise FacefleetError(
                ErrorCode.HOME_UNREACHABLE,
                "This site cannot reach the home of users right now; enrolments, added faces and deletions need "
                "it. Nothing was stored; try again later.",
            ) from exc
        if r.status_code in (502, 503, 504) and not _is_contract_error(r):
            raise FacefleetError(ErrorCode.HOME_UNREACHABLE, f"The home of users answered {r.status_code}; try again.")
        return r


def _is_contract_error(r: httpx.Response) -> bool:
    try:
        return isinstance(r.json().get("error"), str)
    except ValueError:
        return False
