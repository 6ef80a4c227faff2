"""The bodies of the sync routes (recognizer/README.md), as pydantic models used on both ends."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from bson import Binary
from pydantic import BaseModel, Field


class UserState(BaseModel):
    """A user as the home stores it; `embeddings` is the stored encrypted blob, base64."""

    username: str
    uid: str
    model: str
    consent: bool
    consent_at: datetime | None = None
    faces: int
    seq: int = Field(description="the home's number of the change that wrote this state")
    embeddings: str = Field(description="the stored AES-256-GCM blob, base64")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any], seq: int | None = None) -> UserState:
        return cls(
            username=doc["username"],
            uid=str(doc.get("uid", doc["_id"])),
            model=doc["model"],
            consent=bool(doc.get("consent")),
            consent_at=doc.get("consent_at"),
            faces=int(doc["faces"]),
            seq=int(doc.get("seq", 0)) if seq is None else seq,
            embeddings=base64.b64encode(bytes(doc["embeddings"])).decode(),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )

    def to_doc(self) -> dict[str, Any]:
        """The replica's document of this user (the same shape the home's storage writes)."""
        return {
            "_id": self.username,
            "uid": self.uid,
            "username": self.username,
            "model": self.model,
            "consent": self.consent,
            "consent_at": self.consent_at,
            "faces": self.faces,
            "rev": 1,
            "seq": self.seq,
            "embeddings": Binary(base64.b64decode(self.embeddings)),
            "created_at": self.created_at.astimezone(UTC),
            "updated_at": self.updated_at.astimezone(UTC),
        }


class ChangeOut(BaseModel):
    seq: int
    username: str
    user: UserState | None = Field(description="the user's state now; null when the user no longer exists")


class ChangesPage(BaseModel):
    changes: list[ChangeOut]
    next: int = Field(description="the cursor to send next")
    head: int = Field(description="the last seq the home has committed")


class SnapshotStart(BaseModel):
    """The first line of GET /v1/sync/snapshot (NDJSON); user objects follow, one per line."""

    head: int = Field(description="the home's head when the copy began: continue with changes after it")


class SnapshotEnd(BaseModel):
    """The last line: without it the copy was cut short and counts for nothing."""

    end: bool = True
    users: int = Field(description="how many user lines came before")


class SiteCredential(BaseModel):
    site: str
    credential: str = Field(description="shown only once; the home keeps its SHA-256")


class SiteOut(BaseModel):
    site: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    cursor: int | None


class SiteList(BaseModel):
    sites: list[SiteOut]


class SiteStatus(BaseModel):
    """GET /v1/site: where this recognizer stands (the ui's banner)."""

    site: str
    role: str = Field(description="home or replica")
    last_sync_at: datetime | None
    lag_s: float | None = Field(description="seconds since the last successful sync")
    changes_behind: int | None
    offline: bool
    stale: bool = Field(description="logins answer 503 replica_stale")
    max_staleness_s: int | None
