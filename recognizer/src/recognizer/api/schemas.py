"""Typed response bodies of the HTTP contract (../shared/DESIGN.md), as they appear in OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from recognizer.errors import STATUS, ErrorCode


def rfc3339(dt: datetime) -> str:
    """UTC, second precision or finer, with a `Z`: e.g. 2026-11-25T17:00:00Z."""
    dt = dt.astimezone(UTC)
    spec = "seconds" if dt.microsecond == 0 else "milliseconds"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


class ErrorBody(BaseModel):
    error: ErrorCode = Field(description="machine-readable code from the contract's table")
    detail: str = Field(description="a human sentence")


class UserFaces(BaseModel):
    username: str
    faces: int = Field(description="number of enrolled faces")


class User(BaseModel):
    username: str
    faces: int
    consent: bool
    model: str = Field(description="the model the embeddings were computed with")
    created_at: str = Field(description="RFC 3339")
    updated_at: str = Field(description="RFC 3339")


class UserList(BaseModel):
    users: list[User]


class LoginOk(BaseModel):
    username: str
    distance: float
    threshold: float
    token: str = Field(description="signed, expiring bearer token for /v1/me")


class CompareOk(BaseModel):
    distance: float
    threshold: float
    match: bool = Field(description="distance <= threshold")


class Me(BaseModel):
    username: str
    expires_at: str = Field(description="RFC 3339")


class AttemptOut(BaseModel):
    at: str = Field(description="RFC 3339")
    result: str = Field(description="success, no_match or locked_out")
    distance: float | None


class Attempts(BaseModel):
    attempts: list[AttemptOut] = Field(description="newest first")


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: str
    detector: str
    threshold: float
    embeddings: int


def error_responses(*codes: ErrorCode) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` for the given codes, grouped by status."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS[code], []).append(code.value)
    return {
        status: {"model": ErrorBody, "description": "error: " + ", ".join(names)}
        for status, names in sorted(by_status.items())
    }
