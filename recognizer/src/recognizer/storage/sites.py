"""The home's register of replica sites and their credentials (`sync_sites`, one document per site).

A credential is `ffs1.<site>.<secret>`; only its SHA-256 is stored, so a copy of the database
lets no one sync. Issuing a new credential replaces the old one; revoking keeps the document
(with `revoked_at`) so the operator still sees the site and when it was cut off.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

PREFIX = "ffs1"
LAST_SEEN_EVERY = timedelta(seconds=30)  # an idle replica's poll writes at most this often


@dataclass(frozen=True)
class Site:
    site: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    cursor: int | None


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def site_of(credential: str) -> str | None:
    """The site a credential names, or None when it is not one."""
    prefix, _, rest = credential.partition(".")
    site, _, secret = rest.partition(".")
    return site if prefix == PREFIX and site and secret else None


class SiteRegistry:
    def __init__(self, db: Database[dict[str, Any]], now: Callable[[], datetime]) -> None:
        self.sites = db["sync_sites"]
        self._now = now

    def issue(self, site: str) -> str:
        """A new credential for `site` (the previous one, if any, stops working; a revocation is lifted)."""
        credential = f"{PREFIX}.{site}.{secrets.token_urlsafe(32)}"
        now = self._now()
        self.sites.update_one(
            {"_id": site},
            {"$set": {"digest": _digest(credential), "created_at": now, "revoked_at": None}},
            upsert=True,
        )
        return credential

    def revoke(self, site: str) -> bool:
        res = self.sites.update_one({"_id": site}, {"$set": {"revoked_at": self._now(), "digest": ""}})
        return res.matched_count == 1

    def authenticate(self, credential: str) -> str | None:
        """The site of a valid, unrevoked credential, else None."""
        site = site_of(credential)
        if site is None:
            return None
        doc = self.sites.find_one({"_id": site}, {"digest": 1, "revoked_at": 1})
        if doc is None or doc.get("revoked_at") or not doc.get("digest"):
            return None
        return site if hmac.compare_digest(str(doc["digest"]), _digest(credential)) else None

    def seen(self, site: str, cursor: int) -> None:
        """Remember how far the site has read (written when it moved, else at most every 30 s)."""
        now = self._now()
        self.sites.update_one(
            {"_id": site, "$or": [{"cursor": {"$ne": cursor}}, {"last_seen_at": {"$lt": now - LAST_SEEN_EVERY}}]},
            {"$set": {"cursor": cursor, "last_seen_at": now}},
        )

    def list(self) -> list[Site]:
        return [
            Site(
                site=str(d["_id"]),
                created_at=d["created_at"],
                revoked_at=d.get("revoked_at"),
                last_seen_at=d.get("last_seen_at"),
                cursor=d.get("cursor"),
            )
            for d in self.sites.find({}).sort("_id", ASCENDING)
        ]
