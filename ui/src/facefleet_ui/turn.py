"""Short-lived TURN credentials ("TURN REST API", coturn's `use-auth-secret` mode).

The ui and coturn share one secret; for each page session the ui mints a user name that carries
its expiry time and an HMAC of it as the password. coturn recomputes the HMAC and refuses a
credential past its expiry, so a credential copied out of a browser relays for minutes, not for
as long as the Secret lives, and the Secret itself never reaches a browser."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TurnCredential:
    urls: tuple[str, ...]
    username: str
    credential: str
    expires_at: int  # Unix time

    def ice_server(self) -> dict[str, Any]:
        """The RTCIceServer a browser (and aiortc) is given."""
        return {"urls": list(self.urls), "username": self.username, "credential": self.credential}


def mint(secret: str, urls: tuple[str, ...], ttl_s: int, now: float, label: str | None = None) -> TurnCredential:
    """A credential valid until now + ttl_s: user `<expiry>:<label>`, password base64(HMAC-SHA1)."""
    expires_at = int(now) + ttl_s
    username = f"{expires_at}:{label or 'facefleet-' + secrets.token_hex(4)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(urls, username, base64.b64encode(digest).decode(), expires_at)
