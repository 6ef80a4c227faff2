"""Error codes of the HTTP contract (../shared/DESIGN.md), shared by every layer.

The domain and storage layers raise these; only the HTTP layer turns them into
responses, so a code always maps to the same status wherever it is raised.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    NOT_AN_IMAGE = "not_an_image"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    INVALID_USERNAME = "invalid_username"
    MISSING_FIELD = "missing_field"
    IMAGE_TOO_LARGE = "image_too_large"
    UNAUTHORIZED = "unauthorized"
    NO_MATCH = "no_match"
    NOT_FOUND = "not_found"
    USER_EXISTS = "user_exists"
    LOCKED_OUT = "locked_out"
    UNAVAILABLE = "unavailable"
    HOME_UNREACHABLE = "home_unreachable"  # a replica cannot forward a write to the home
    REPLICA_STALE = "replica_stale"  # a replica has not synced within FACEFLEET_REPLICA_MAX_STALENESS_S
    CURSOR_EXPIRED = "cursor_expired"  # the home no longer keeps the changes after a replica's cursor


STATUS: dict[ErrorCode, int] = {
    ErrorCode.NOT_AN_IMAGE: 422,
    ErrorCode.NO_FACE: 422,
    ErrorCode.MULTIPLE_FACES: 422,
    ErrorCode.FACE_TOO_SMALL: 422,
    ErrorCode.INVALID_USERNAME: 422,
    ErrorCode.MISSING_FIELD: 422,
    ErrorCode.IMAGE_TOO_LARGE: 413,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.NO_MATCH: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.USER_EXISTS: 409,
    ErrorCode.LOCKED_OUT: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.HOME_UNREACHABLE: 503,
    ErrorCode.REPLICA_STALE: 503,
    ErrorCode.CURSOR_EXPIRED: 410,
}


class FacefleetError(Exception):
    """A failure the client caused or must be told about, with a contract error code."""

    def __init__(self, code: ErrorCode, detail: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[Any, ...]:
        # picklable, so an error raised in a face worker process reaches the client unchanged
        return (_rebuild_error, (self.code, self.detail, self.retry_after_s))

    @property
    def status(self) -> int:
        return STATUS[self.code]


def _rebuild_error(code: ErrorCode, detail: str, retry_after_s: int | None) -> FacefleetError:
    return FacefleetError(code, detail, retry_after_s=retry_after_s)
