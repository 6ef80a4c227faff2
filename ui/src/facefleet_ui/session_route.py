"""HTTP side of the session cookie: the one place that sends `Set-Cookie`, so it can be HttpOnly.

The page never hands the token to browser JavaScript. After a login the script renders a one-line
`fetch()` carrying a *ticket*: the token sealed with AES-GCM under a key derived from the ui's API
key (shared by every replica; a random per-process key when there is none), valid for 60 s. This
route opens the ticket and answers with the cookie:
`facefleet_session=<token>; HttpOnly; SameSite=Strict; Path=<base>/; Max-Age=<token lifetime>`,
plus `Secure` when the request came over https (directly or per X-Forwarded-Proto).
Requests whose Origin is not this site are refused (no login CSRF); DELETE clears the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from functools import cache
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facefleet_ui import config as ui_config

COOKIE = "facefleet_session"
TICKET_TTL_S = 60


def base_path() -> str:
    """Streamlit's server.baseUrlPath as '/x/' (or '/')."""
    try:
        from streamlit import config

        raw = config.get_option("server.baseUrlPath") or ""
    except Exception:
        raw = ui_config.load().base_url_path
    raw = raw.strip("/")
    return f"/{raw}/" if raw else "/"


def route_path() -> str:
    return base_path() + "api/session"


@cache
def _key() -> bytes:
    secret = ui_config.load().api_key or ""
    if not secret:
        return AESGCM.generate_key(bit_length=256)
    return hashlib.sha256(b"facefleet-ui-session-ticket\0" + secret.encode()).digest()


def seal(token: str, max_age_s: int, now: float | None = None) -> str:
    nonce = os.urandom(12)
    body = json.dumps({"t": token, "m": int(max_age_s), "i": int(now or time.time())}).encode()
    return base64.urlsafe_b64encode(nonce + AESGCM(_key()).encrypt(nonce, body, b"ticket")).decode()


def unseal(ticket: str, now: float | None = None) -> tuple[str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(ticket.encode())
        body = json.loads(AESGCM(_key()).decrypt(raw[:12], raw[12:], b"ticket"))
    except Exception:
        return None
    if not 0 <= (now or time.time()) - body["i"] <= TICKET_TTL_S:
        return None
    return str(body["t"]), int(body["m"])


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # same-origin GET/HEAD may omit it; POST/DELETE from fetch() send it
        return True
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return urlsplit(origin).netloc == host.split(",")[0].strip()


def _secure(request: Request) -> bool:
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    return proto.split(",")[0].strip() == "https"


async def session_endpoint(request: Request) -> Response:
    if not _same_origin(request):
        return Response(status_code=403)
    resp = Response(status_code=204, headers={"Cache-Control": "no-store"})
    if request.method == "DELETE":
        resp.delete_cookie(COOKIE, path=base_path(), secure=_secure(request), httponly=True, samesite="strict")
        return resp
    opened = unseal((await request.body()).decode(errors="replace").strip())
    if opened is None:
        return Response(status_code=400)
    token, max_age = opened
    resp.set_cookie(
        COOKIE, token, max_age=max_age, path=base_path(), secure=_secure(request), httponly=True, samesite="strict"
    )
    return resp


def routes() -> list[Route]:
    return [Route(route_path(), session_endpoint, methods=["POST", "DELETE"])]
