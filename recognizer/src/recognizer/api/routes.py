"""The routes of the HTTP contract (../shared/DESIGN.md), each with its documented error responses.

Handlers that touch the model or the database are plain `def`s: FastAPI runs them in its thread
pool, so the event loop (and /healthz) stays responsive while a face is embedded.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from recognizer import telemetry
from recognizer.api import schemas as s
from recognizer.defaults import ATTEMPTS_LIMIT, MAX_ATTEMPTS_LIMIT, USERNAME_PATTERN
from recognizer.errors import ErrorCode as E
from recognizer.errors import FacefleetError
from recognizer.runtime import Runtime
from recognizer.service import Recognizer
from recognizer.storage import UserRecord
from recognizer.sync.client import SEQ_HEADER
from recognizer.sync.forward import Forwarded
from recognizer.sync.wire import SiteStatus

router = APIRouter()
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="FACEFLEET_API_KEY")
bearer = HTTPBearer(auto_error=False, description="token from POST /v1/login")

IMAGE_ERRORS = (E.NOT_AN_IMAGE, E.NO_FACE, E.MULTIPLE_FACES, E.FACE_TOO_SMALL, E.MISSING_FIELD, E.IMAGE_TOO_LARGE)
USERNAME_FIELD = f"^{USERNAME_PATTERN}$"
Username = Annotated[str, Path(pattern=USERNAME_FIELD, description=USERNAME_PATTERN)]


def runtime(request: Request) -> Runtime:
    rt = request.app.state.runtime
    assert isinstance(rt, Runtime), "create_app sets app.state.runtime"
    return rt


def service(request: Request) -> Recognizer:
    return runtime(request).recognizer


def _api_key_ok(request: Request, key: str | None) -> bool:
    expected = runtime(request).settings.api_key
    return bool(key) and hmac.compare_digest(str(key).encode(), expected.encode())


def require_api_key(request: Request, key: Annotated[str | None, Depends(api_key_header)]) -> None:
    if not _api_key_ok(request, key):
        raise FacefleetError(E.UNAUTHORIZED, "A valid X-API-Key header is required.")


def seq_header(response: Response, seq: int) -> None:
    """The change this write committed, so a replica that forwarded it can wait until it has pulled it."""
    response.headers[SEQ_HEADER] = str(seq)


def _passed_on(answer: Forwarded) -> Response:
    """The home's answer to a forwarded write, unchanged."""
    a = answer
    return Response(content=a.body, status_code=a.status, media_type=a.media_type, headers=a.headers)


def _files(field: str, uploads: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (f"{field}-{i}", data, "application/octet-stream")) for i, data in enumerate(uploads)]


def bearer_token(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str | None:
    return creds.credentials if creds else None


def read_upload(upload: UploadFile) -> bytes:
    return upload.file.read()


def _user(u: UserRecord) -> s.User:
    return s.User(
        username=u.username,
        faces=u.faces,
        consent=u.consent,
        model=u.model,
        created_at=s.rfc3339(u.created_at),
        updated_at=s.rfc3339(u.updated_at),
    )


# -- operations ------------------------------------------------------------------------------
@router.get("/healthz", response_model=s.Health, tags=["operations"])
async def healthz() -> s.Health:
    """200 while the process lives (no dependencies checked)."""
    return s.Health(status="ok")


@router.get("/readyz", response_model=s.Ready, tags=["operations"], responses=s.error_responses(E.UNAVAILABLE))
def readyz(request: Request) -> s.Ready:
    """200 when the model is loaded and the database answers, else 503."""
    rt = runtime(request)
    ready, reason = rt.readiness()
    telemetry.READY.set(1 if ready else 0)
    if not ready:
        raise FacefleetError(E.UNAVAILABLE, f"Not ready: {reason}.")
    return s.Ready(
        status="ready",
        model=rt.recognizer.model_name,
        detector=rt.detector,
        threshold=rt.settings.threshold,
        embeddings=len(rt.index.snapshot.matrix),
    )


@router.get("/v1/site", response_model=SiteStatus, tags=["operations"], responses=s.error_responses(E.UNAVAILABLE))
def site(request: Request) -> SiteStatus:
    """Which site this is and, on a replica, how fresh its copy of the home's users is (the ui's banner)."""
    return runtime(request).site_status()


@router.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# -- users (API key) -------------------------------------------------------------------------
@router.post(
    "/v1/users",
    status_code=201,
    response_model=s.UserFaces,
    tags=["users"],
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(
        *IMAGE_ERRORS, E.INVALID_USERNAME, E.UNAUTHORIZED, E.USER_EXISTS, E.UNAVAILABLE, E.HOME_UNREACHABLE
    ),
)
def enrol(
    request: Request,
    response: Response,
    username: Annotated[str, Form(pattern=USERNAME_FIELD)],
    images: Annotated[list[UploadFile], File(description="one or more photos of the user's face")],
    consent: Annotated[bool, Form(description="the person agreed to biometric enrolment")] = True,
) -> s.UserFaces | Response:
    """Enrol a user with one or more faces; all or nothing. A replica forwards it to the home."""
    uploads = [read_upload(f) for f in images]
    forwarder = runtime(request).forwarder
    if forwarder is not None:
        data = {"username": username, "consent": "true" if consent else "false"}
        return _passed_on(forwarder.send("POST", "/v1/sync/users", data=data, files=_files("images", uploads)))
    user = service(request).enrol(username, uploads, consent=consent)
    seq_header(response, user.seq)
    return s.UserFaces(username=user.username, faces=user.faces)


@router.post(
    "/v1/users/{username}/faces",
    response_model=s.UserFaces,
    tags=["users"],
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(
        *IMAGE_ERRORS, E.INVALID_USERNAME, E.UNAUTHORIZED, E.NOT_FOUND, E.UNAVAILABLE, E.HOME_UNREACHABLE
    ),
)
def add_faces(
    request: Request,
    response: Response,
    username: Username,
    images: Annotated[list[UploadFile], File(description="one or more photos")],
) -> s.UserFaces | Response:
    """Add faces to an enrolled user; all or nothing. A replica forwards it to the home."""
    uploads = [read_upload(f) for f in images]
    forwarder = runtime(request).forwarder
    if forwarder is not None:
        return _passed_on(forwarder.send("POST", f"/v1/sync/users/{username}/faces", files=_files("images", uploads)))
    user = service(request).add_faces(username, uploads)
    seq_header(response, user.seq)
    return s.UserFaces(username=user.username, faces=user.faces)


@router.get(
    "/v1/users",
    response_model=s.UserList,
    tags=["users"],
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(E.UNAUTHORIZED, E.UNAVAILABLE),
)
def list_users(request: Request) -> s.UserList:
    """Every user with face count and timestamps (never embeddings)."""
    return s.UserList(users=[_user(u) for u in service(request).list_users()])


@router.get(
    "/v1/users/{username}",
    response_model=s.User,
    tags=["users"],
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(E.INVALID_USERNAME, E.UNAUTHORIZED, E.NOT_FOUND, E.UNAVAILABLE),
)
def get_user(request: Request, username: Username) -> s.User:
    return _user(service(request).get_user(username))


@router.delete(
    "/v1/users/{username}",
    status_code=204,
    response_class=Response,
    tags=["users"],
    dependencies=[Depends(require_api_key)],
    responses=s.error_responses(E.INVALID_USERNAME, E.UNAUTHORIZED, E.NOT_FOUND, E.UNAVAILABLE, E.HOME_UNREACHABLE),
)
def delete_user(request: Request, username: Username) -> Response:
    """Delete the user and every embedding, at every site. A replica forwards it to the home."""
    forwarder = runtime(request).forwarder
    if forwarder is not None:
        return _passed_on(forwarder.send("DELETE", f"/v1/sync/users/{username}"))
    seq = service(request).delete_user(username)
    return Response(status_code=204, headers={SEQ_HEADER: str(seq)})


# -- login and compare -----------------------------------------------------------------------
@router.post(
    "/v1/login",
    response_model=s.LoginOk,
    tags=["login"],
    responses=s.error_responses(
        *IMAGE_ERRORS, E.INVALID_USERNAME, E.NO_MATCH, E.LOCKED_OUT, E.UNAVAILABLE, E.REPLICA_STALE
    ),
)
def login(
    request: Request,
    image: Annotated[UploadFile, File(description="one photo of one face")],
    username: Annotated[
        str | None, Form(pattern=USERNAME_FIELD, description="1:1 verify; omit for 1:N identify")
    ] = None,
) -> s.LoginOk:
    """Log in with a face: 200 with a token, 401 no_match (also for an unknown user), 429 locked_out.

    With a username this is 1:1 verify, without one 1:N identify."""
    recognizer, probe = service(request), read_upload(image)
    if username:
        r = recognizer.verify(probe, username)
    else:
        r = recognizer.identify(probe, client=request.client.host if request.client else None)
    return s.LoginOk(username=r.username, distance=r.distance, threshold=r.threshold, token=r.token)


@router.post(
    "/v1/compare", response_model=s.CompareOk, tags=["login"], responses=s.error_responses(*IMAGE_ERRORS, E.UNAVAILABLE)
)
def compare(
    request: Request, image_a: Annotated[UploadFile, File()], image_b: Annotated[UploadFile, File()]
) -> s.CompareOk:
    """Distance between the faces of two images, with the login decision rule."""
    c = service(request).compare(read_upload(image_a), read_upload(image_b))
    return s.CompareOk(distance=c.distance, threshold=c.threshold, match=c.match)


# -- the token holder ------------------------------------------------------------------------
@router.get("/v1/me", response_model=s.Me, tags=["me"], responses=s.error_responses(E.UNAUTHORIZED, E.UNAVAILABLE))
def me(request: Request, token: Annotated[str | None, Depends(bearer_token)]) -> s.Me:
    claims = service(request).me(token)
    return s.Me(username=claims.username, expires_at=s.rfc3339(claims.expires_at))


@router.post(
    "/v1/logout",
    status_code=204,
    response_class=Response,
    tags=["me"],
    responses=s.error_responses(E.UNAUTHORIZED, E.UNAVAILABLE),
)
def logout(request: Request, token: Annotated[str | None, Depends(bearer_token)]) -> Response:
    """Revoke the token: it answers 401 on every recognizer of this site afterwards."""
    service(request).logout(token)
    return Response(status_code=204)


@router.get(
    "/v1/me/attempts",
    response_model=s.Attempts,
    tags=["me"],
    responses=s.error_responses(E.UNAUTHORIZED, E.MISSING_FIELD, E.UNAVAILABLE),
)
def my_attempts(
    request: Request,
    token: Annotated[str | None, Depends(bearer_token)],
    limit: Annotated[int, Query(ge=1, le=MAX_ATTEMPTS_LIMIT)] = ATTEMPTS_LIMIT,
) -> s.Attempts:
    """The token holder's login attempts, newest first."""
    rows = service(request).my_attempts(token, limit=limit)
    return s.Attempts(attempts=[s.AttemptOut(at=s.rfc3339(a.at), result=a.result, distance=a.distance) for a in rows])


@router.delete(
    "/v1/me",
    status_code=204,
    response_class=Response,
    tags=["me"],
    responses=s.error_responses(E.UNAUTHORIZED, E.UNAVAILABLE, E.HOME_UNREACHABLE),
)
def delete_me(request: Request, token: Annotated[str | None, Depends(bearer_token)]) -> Response:
    """Delete the token holder and every embedding, at every site (a replica asks the home)."""
    forwarder = runtime(request).forwarder
    if forwarder is not None:
        claims = service(request).me(token)
        return _passed_on(forwarder.send("DELETE", f"/v1/sync/users/{claims.username}"))
    seq = service(request).delete_me(token)
    return Response(status_code=204, headers={SEQ_HEADER: str(seq)})


__all__ = ["router"]
