"""The home's sync routes (recognizer/README.md, "Fleet-wide users"): sites, changes, snapshot,
and the user writes that replicas forward.

They all live under /v1/sync/, the one prefix the home's ingress routes to the recognizer, so the
user-admin API (API key) never has to be public. A replica answers every one of them 404
not_found: it has no replicas of its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from recognizer.api import schemas as s
from recognizer.api.routes import (
    IMAGE_ERRORS,
    USERNAME_FIELD,
    Username,
    bearer_token,
    read_upload,
    require_api_key,
    runtime,
    seq_header,
    service,
)
from recognizer.defaults import MAX_SYNC_PAGE, SITE_PATTERN, SYNC_PAGE
from recognizer.errors import ErrorCode as E
from recognizer.errors import FacefleetError
from recognizer.sync.client import SEQ_HEADER
from recognizer.sync.home import SyncSource
from recognizer.sync.wire import ChangesPage, SiteCredential, SiteList

router = APIRouter(prefix="/v1/sync", tags=["sync"])
Site = Annotated[str, Path(pattern=f"^{SITE_PATTERN}$", description="a DNS label")]
Limit = Annotated[int, Query(ge=1, le=MAX_SYNC_PAGE)]
NDJSON = "application/x-ndjson"


def source(request: Request) -> SyncSource:
    src = runtime(request).sync_source
    if src is None:
        raise FacefleetError(E.NOT_FOUND, "This recognizer is a replica; the sync routes are served by its home.")
    return src


Source = Annotated[SyncSource, Depends(source)]


def site_of_caller(src: Source, credential: Annotated[str | None, Depends(bearer_token)]) -> str:
    return src.authenticate(credential)


Caller = Annotated[str, Depends(site_of_caller)]


@router.put(
    "/sites/{site}",
    status_code=201,
    response_model=SiteCredential,
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(E.UNAUTHORIZED, E.NOT_FOUND, E.MISSING_FIELD, E.UNAVAILABLE),
)
def issue_site(src: Source, site: Site) -> SiteCredential:
    """A new credential for a replica site; any earlier one stops working. Shown only in this answer."""
    return src.issue(site)


@router.get(
    "/sites",
    response_model=SiteList,
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(E.UNAUTHORIZED, E.NOT_FOUND, E.UNAVAILABLE),
)
def list_sites(src: Source) -> SiteList:
    """Every site with its credential's age, revocation, and how far it has read."""
    return src.sites()


@router.delete(
    "/sites/{site}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(E.UNAUTHORIZED, E.NOT_FOUND, E.MISSING_FIELD, E.UNAVAILABLE),
)
def revoke_site(src: Source, site: Site) -> Response:
    """Revoke the site's credential: it gets nothing more from this home."""
    src.revoke(site)
    return Response(status_code=204)


@router.get(
    "/changes",
    response_model=ChangesPage,
    responses=s.error_responses(E.UNAUTHORIZED, E.NOT_FOUND, E.CURSOR_EXPIRED, E.MISSING_FIELD, E.UNAVAILABLE),
)
def changes(src: Source, site: Caller, after: Annotated[int, Query(ge=0)], limit: Limit = SYNC_PAGE) -> ChangesPage:
    """The changes after the cursor, each with the user's state now (null: deleted)."""
    return src.changes(site, after, limit)


@router.get(
    "/snapshot",
    response_class=StreamingResponse,
    responses={
        200: {"content": {NDJSON: {}}, "description": "a start line, one line per user, an end line"},
        **s.error_responses(E.UNAUTHORIZED, E.NOT_FOUND, E.UNAVAILABLE),
    },
)
def snapshot(src: Source, site: Caller) -> StreamingResponse:
    """Every user, streamed, for a replica's full copy (recognizer/README.md, sync)."""
    return StreamingResponse(src.snapshot(), media_type=NDJSON)


# -- user writes forwarded by a replica (site credential) --------------------------------------------
FORWARDED_ERRORS = (*IMAGE_ERRORS, E.INVALID_USERNAME, E.UNAUTHORIZED, E.NOT_FOUND, E.UNAVAILABLE)


@router.post(
    "/users",
    status_code=201,
    response_model=s.UserFaces,
    responses=s.error_responses(*FORWARDED_ERRORS, E.USER_EXISTS),
)
def forwarded_enrol(
    request: Request,
    response: Response,
    site: Caller,
    username: Annotated[str, Form(pattern=USERNAME_FIELD)],
    images: Annotated[list[UploadFile], File()],
    consent: Annotated[bool, Form()] = True,
) -> s.UserFaces:
    """POST /v1/users, as a replica forwards it; answered with the header X-Facefleet-Seq."""
    user = service(request).enrol(username, [read_upload(f) for f in images], consent=consent)
    seq_header(response, user.seq)
    return s.UserFaces(username=user.username, faces=user.faces)


@router.post("/users/{username}/faces", response_model=s.UserFaces, responses=s.error_responses(*FORWARDED_ERRORS))
def forwarded_add_faces(
    request: Request, response: Response, site: Caller, username: Username, images: Annotated[list[UploadFile], File()]
) -> s.UserFaces:
    """POST /v1/users/{username}/faces, as a replica forwards it."""
    user = service(request).add_faces(username, [read_upload(f) for f in images])
    seq_header(response, user.seq)
    return s.UserFaces(username=user.username, faces=user.faces)


@router.delete(
    "/users/{username}",
    status_code=204,
    response_class=Response,
    responses=s.error_responses(E.INVALID_USERNAME, E.UNAUTHORIZED, E.NOT_FOUND, E.UNAVAILABLE),
)
def forwarded_delete(request: Request, site: Caller, username: Username) -> Response:
    """DELETE /v1/users/{username} (and a token holder's DELETE /v1/me), as a replica forwards it."""
    seq = service(request).delete_user(username)
    return Response(status_code=204, headers={SEQ_HEADER: str(seq)})
