"""Keep a person logged in across page reloads, until the token expires or they log out.

Streamlit's session_state lives as long as one websocket, so a reload forgets it. The login
token (signed and expiring, issued by the recognizer) is therefore kept in a first-party cookie:
- `SameSite=Strict`, `Path=<server.baseUrlPath>/`, `Max-Age` = the token's remaining lifetime,
  and `Secure` whenever the page is served over https (always, behind the ingress);
- never in the URL, so it does not leak through history, shared links, Referer or access logs;
- the server reads it from the websocket handshake (`st.context.cookies`) and trusts it only after
  `GET /v1/me` accepts it, on every page load; an expired or unknown token is dropped;
- Log out and Delete my account clear it.
Streamlit has no hook to send `Set-Cookie` from the server, so the cookie is written by a tiny
same-origin script and cannot be HttpOnly; the page renders no user-supplied HTML.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import streamlit as st

COOKIE = "facefleet_session"
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
        end = end.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0, int((end - now).total_seconds()))


def _path() -> str:
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/" if base else "/"


def _script(assignment: str) -> str:
    # json.dumps gives a safe JS string literal; the token alphabet is checked as well.
    return (
        "<script>(function(){var c=" + assignment + ";"
        "if(window.parent.location.protocol==='https:'){c+='; Secure';}"
        "window.parent.document.cookie=c;})();</script>"
    )


def store(token: str, expires_at: str) -> None:
    """Write the cookie (rendered as an invisible same-origin component)."""
    if not _TOKEN_CHARS.match(token):
        return
    value = f"{COOKIE}={token}; Path={_path()}; Max-Age={seconds_left(expires_at)}; SameSite=Strict"
    st.components.v1.html(_script(json.dumps(value)), height=0)


def clear() -> None:
    value = f"{COOKIE}=; Path={_path()}; Max-Age=0; SameSite=Strict"
    st.components.v1.html(_script(json.dumps(value)), height=0)
