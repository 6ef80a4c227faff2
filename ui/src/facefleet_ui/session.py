"""Keep a person logged in across page reloads, until the token expires or they log out.

Streamlit's session_state lives as long as one websocket, so a reload forgets it. The login
token (signed and expiring, issued by the recognizer) is therefore kept in a first-party cookie
set by the ui's own HTTP route (session_route.py):
- `HttpOnly` (page scripts never see the token), `SameSite=Strict`, `Path=<server.baseUrlPath>/`,
  `Max-Age` = the token's remaining lifetime, `Secure` whenever the page is served over https;
- never in the URL, so it does not leak through history, shared links, Referer or access logs;
- the server reads it from the websocket handshake (`st.context.cookies`) and trusts it only after
  `GET /v1/me` accepts it, on every page load; an expired or unknown token is dropped;
- Log out and Delete my account clear it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import streamlit as st

from facefleet_ui.session_route import COOKIE  # one name: the route sets it, the page reads it

_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]{8,4096}$")
# Unit tests (AppTest has no browser, hence no cookies) put the handshake cookies here.
COOKIES_OVERRIDE: dict[str, str] | None = None


def cookie_token() -> str | None:
    """The token the browser sent with this websocket, if it looks like one."""
    try:
        cookies = COOKIES_OVERRIDE if COOKIES_OVERRIDE is not None else st.context.cookies
        value = cookies.get(COOKIE)
    except Exception:  # no browser context (bare mode)
        return None
    return value if isinstance(value, str) and _TOKEN_CHARS.match(value) else None


def seconds_left(expires_at: str, now: datetime | None = None) -> int:
    """Remaining lifetime of an RFC 3339 timestamp, at least 0."""
    try:
        end = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0, int((end - now).total_seconds()))


def _fetch(method: str, body: str | None) -> None:
    """An invisible same-origin script that calls the session route (session_route.py)."""
    from .session_route import route_path

    args = {"method": method, "credentials": "same-origin", "cache": "no-store"}
    if body is not None:
        args["body"] = body
    script = (
        "<script>window.parent.fetch(window.parent.location.origin + "
        f"{json.dumps(route_path())}, {json.dumps(args)});</script>"
    )
    render = getattr(st, "iframe", None)
    if render is not None:
        render(script, height=1)
    else:  # older Streamlit
        st.components.v1.html(script, height=0)


def store(token: str, expires_at: str) -> None:
    """Have the browser fetch the HttpOnly cookie for `token` (JS only sees a sealed ticket)."""
    from .session_route import seal

    if _TOKEN_CHARS.match(token):
        _fetch("POST", seal(token, seconds_left(expires_at)))


def clear() -> None:
    _fetch("DELETE", None)
