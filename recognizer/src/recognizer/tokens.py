"""Signed, expiring login tokens (JWT, HS256 only).

The algorithm is pinned when verifying, so `alg: none` or an RS/HS confusion is rejected; the token
carries the user's record id (`uid`), so it dies with the user even if the name is enrolled again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from recognizer.defaults import MIN_SECRET_CHARS
from recognizer.errors import ErrorCode, FacefleetError

ALGORITHM = "HS256"
ISSUER = "facefleet-recognizer"


@dataclass(frozen=True)
class Claims:
    username: str
    uid: str
    expires_at: datetime
    token_id: str  # what a logout revokes: a digest of the token, never the token itself


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenIssuer:
    def __init__(self, secret: str, ttl_s: int, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"FACEFLEET_TOKEN_SECRET must have at least {MIN_SECRET_CHARS} characters")
        # A fixed-length HMAC key derived from the secret: full strength for HS256 (32 bytes)
        # whatever the secret's length, and never the raw secret on the wire's MAC.
        self._secret = hmac.new(b"facefleet/tokens/v1", secret.encode(), hashlib.sha256).digest()
        self._ttl = ttl_s
        self._clock = clock

    def issue(self, username: str, uid: str) -> tuple[str, datetime]:
        now = int(self._clock())
        exp = now + self._ttl
        # jti: two logins in the same second still get different tokens, so a logout revokes one only.
        token = jwt.encode(
            {"sub": username, "uid": uid, "iat": now, "exp": exp, "iss": ISSUER, "jti": secrets.token_urlsafe(12)},
            self._secret,
            algorithm=ALGORITHM,
        )
        return token, datetime.fromtimestamp(exp, UTC)

    def verify(self, token: str | None) -> Claims:
        if not token:
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "A bearer token is required.")
        try:
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "uid", "exp", "iat", "iss"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "The token has expired; log in again.") from exc
        except jwt.InvalidTokenError as exc:
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "The token is not valid.") from exc
        if not isinstance(data.get("sub"), str) or not isinstance(data.get("uid"), str):
            raise FacefleetError(ErrorCode.UNAUTHORIZED, "The token is not valid.")
        return Claims(
            username=data["sub"],
            uid=data["uid"],
            expires_at=datetime.fromtimestamp(data["exp"], UTC),
            token_id=token_id(token),
        )
