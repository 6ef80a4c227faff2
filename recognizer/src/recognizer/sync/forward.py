"""A replica passes user writes on to the home and answers with the home's answer (README, sync).

The caller was already checked here (API key or token). The home's answer comes back unchanged,
after this site has pulled the change it committed (at most FACEFLEET_SYNC_WAIT_S), so a login
here right after an enrolment here finds the new user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recognizer.errors import ErrorCode, FacefleetError
from recognizer.sync.client import SEQ_HEADER, HomeClient
from recognizer.sync.replicator import Replicator

PASSED_HEADERS = ("Retry-After", SEQ_HEADER)


@dataclass(frozen=True)
class Forwarded:
    """The home's answer, to be passed on as it is (the HTTP layer turns it into a response)."""

    status: int
    body: bytes
    media_type: str | None
    headers: dict[str, str]


class Forwarder:
    def __init__(self, client: HomeClient, replicator: Replicator, wait_s: float) -> None:
        self.client = client
        self.replicator = replicator
        self.wait_s = wait_s

    def send(
        self, method: str, path: str, *, data: dict[str, str] | None = None, files: list[Any] | None = None
    ) -> Forwarded:
        r = self.client.forward(method, path, data=data, files=files)
        if r.status_code == 401:  # the request carried only the site credential: the home refused it
            raise FacefleetError(
                ErrorCode.HOME_UNREACHABLE, "The home of users refused this site's credential; nothing was stored."
            )
        seq = r.headers.get(SEQ_HEADER)
        if r.is_success and seq and seq.isdigit():
            self.replicator.wait_for(int(seq), self.wait_s)
        headers = {h: r.headers[h] for h in PASSED_HEADERS if h in r.headers}
        media_type = r.headers.get("content-type")
        return Forwarded(status=r.status_code, body=r.content, media_type=media_type, headers=headers)
