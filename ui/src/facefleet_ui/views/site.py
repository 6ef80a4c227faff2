"""The site banner: which site this page belongs to and, on a replica, how current its users are.

A replica site copies the fleet's users from the home and decides logins locally, also offline
(recognizer/README.md, "Fleet-wide users"). A person enrolled at the home since the last sync is
not known here yet; the banner says when that sync was, so a worker understands why.

`describe` is pure (a `SiteStatus` as the recognizer's `GET /v1/site` answers it, plus how old that
answer is) so tests feed it real recognizer answers; `render` draws it. An older recognizer
without the route, or one that cannot answer, shows no banner at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from .. import resources
from ..client import SiteStatus
from .common import md_escape, ready_banner

Level = Literal["caption", "warning", "error"]


@dataclass(frozen=True)
class Banner:
    level: Level
    text: str  # Markdown


def ago(seconds: float) -> str:
    """A short human duration: `8 s`, `5 min`, `1 h 5 min`, `2 d 3 h`."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _parse(ts: str | None) -> datetime | None:
    """An RFC 3339 time (naive ones taken as UTC); None when missing or unreadable."""
    if not ts:
        return None
    try:
        at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _zone(tz: str | None) -> tuple[tzinfo, str]:
    """The browser's time zone when it is known and valid (no label needed), else UTC."""
    if tz:
        try:
            return ZoneInfo(tz), ""
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC, " UTC"


def _clock(last_sync_at: str | None, tz: str | None) -> str:
    """` (at 14:05)` in the browser's time zone, else ` (at 14:05 UTC)`; empty when unreadable."""
    at = _parse(last_sync_at)
    if at is None:
        return ""
    zone, label = _zone(tz)
    local = at.astimezone(zone)
    fmt = "%H:%M" if local.date() == datetime.now(zone).date() else "%Y-%m-%d %H:%M"
    return f" (at {local.strftime(fmt)}{label})"


def since_sync(status: SiteStatus, age_s: float = 0.0, now: datetime | None = None) -> float | None:
    """Seconds since the replica's last successful sync, now: the recognizer's own `lag_s` (its
    clock, no skew with ours) plus how old that answer is; else computed from `last_sync_at`."""
    if status.lag_s is not None:
        return status.lag_s + max(0.0, age_s)
    at = _parse(status.last_sync_at)
    if at is None:
        return None
    return max(0.0, ((now or datetime.now(UTC)) - at).total_seconds())


def describe(status: SiteStatus, age_s: float = 0.0, tz: str | None = None) -> Banner:
    """What the page says about its site (see the module docstring)."""
    name = f"**{md_escape(status.site)}**"
    if not status.replica:
        return Banner("caption", f"Site {name} · the home of this fleet's users")
    lag = since_sync(status, age_s)
    if lag is None:  # never completed its first copy of the users
        text = f"Site {name} has not copied the users from the home yet, so nobody can log in here yet."
        if status.offline:
            text += " It cannot reach the home right now; logins start once it has."
        return Banner("error" if status.stale or status.offline else "warning", text)
    last = f"last synced with the home {ago(lag)} ago{_clock(status.last_sync_at, tz)}"
    if status.stale:
        limit = f" (the limit is {ago(status.max_staleness_s)})" if status.max_staleness_s else ""
        return Banner(
            "error",
            f"Site {name} has been cut off from the home for too long: {last}{limit}. Logins are paused "
            "here until it reconnects, so that nobody removed in the meantime can get in.",
        )
    if status.offline:
        return Banner(
            "warning",
            f"Site {name} is offline: it cannot reach the home right now, {last}. Everyone known here "
            "can still log in, but people registered or deleted since then are not known at this site "
            "until it reconnects, and registering is paused.",
        )
    behind = status.changes_behind or 0
    more = f" · {behind} change{'s' if behind != 1 else ''} from the home still arriving" if behind > 0 else ""
    return Banner("caption", f"Site {name} · {last}{more}")


def _browser_timezone() -> str | None:
    try:
        return st.context.timezone
    except Exception:  # no browser context (AppTest, bare mode)
        return None


@st.fragment(run_every=3)
def banners() -> None:
    """The top of every page, refreshed every few seconds: the recognizer's readiness, then the site."""
    ready_banner()
    render(*resources.site_cache().get())


def render(site: SiteStatus | None, age_s: float) -> None:
    """Draw the banner; nothing when the recognizer did not say where it stands."""
    if site is None:
        return
    banner = describe(site, age_s, _browser_timezone())
    if banner.level == "error":
        st.error(banner.text, icon=":material/block:")  # Streamlit's own icon font: no emoji font needed
    elif banner.level == "warning":
        st.warning(banner.text, icon=":material/cloud_off:")
    else:
        st.caption(banner.text)
