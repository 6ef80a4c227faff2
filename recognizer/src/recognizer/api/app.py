"""The FastAPI application: routes, contract error bodies, middleware, and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from recognizer.api.middleware import ERROR_KEY, BodyLimit, Observe
from recognizer.api.routes import router
from recognizer.api.sync_routes import router as sync_router
from recognizer.config import Settings
from recognizer.defaults import FORM_SLACK_BYTES, USERNAME_RULE
from recognizer.errors import STATUS, ErrorCode, FacefleetError
from recognizer.runtime import EmbedderLoader, Runtime
from recognizer.wiring import load_embedder

VERSION = "1.0.0"
HTTP_STATUS_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.NOT_FOUND,
    413: ErrorCode.IMAGE_TOO_LARGE,
    401: ErrorCode.UNAUTHORIZED,
    503: ErrorCode.UNAVAILABLE,
}


def _error(
    request: Request, code: ErrorCode, detail: str, status: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    request.scope[ERROR_KEY] = code.value
    return JSONResponse({"error": code.value, "detail": detail}, status_code=status or STATUS[code], headers=headers)


async def on_facefleet_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FacefleetError)
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    return _error(request, exc.code, exc.detail, headers=headers)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body never leaves: a bad username is invalid_username, anything else missing_field."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if "username" in loc and err.get("type") != "missing":
            return _error(request, ErrorCode.INVALID_USERNAME, USERNAME_RULE)
    fields = sorted({str(err["loc"][-1]) for err in errors if err.get("loc")})
    missing = [str(err["loc"][-1]) for err in errors if err.get("type") == "missing" and err.get("loc")]
    if missing:
        detail = "Missing required field(s): " + ", ".join(sorted(set(missing))) + "."
    else:
        detail = "Invalid value for field(s): " + ", ".join(fields) + "."
    return _error(request, ErrorCode.MISSING_FIELD, detail)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # an unparsable multipart body: the fields are, in effect, missing
        return _error(request, ErrorCode.MISSING_FIELD, "The multipart form could not be parsed.")
    code = HTTP_STATUS_CODES.get(exc.status_code, ErrorCode.NOT_FOUND)
    detail = exc.detail if isinstance(exc.detail, str) else code.value
    if exc.status_code == 404:
        detail = "No such route."
    return _error(request, code, detail, status=exc.status_code)


def body_limit_for(settings: Settings) -> Callable[[str], int]:
    """Login takes one image, compare two, enrolment up to FACEFLEET_MAX_IMAGES; each plus form overhead."""
    per, slack = settings.max_image_bytes, FORM_SLACK_BYTES

    def limit(path: str) -> int:
        if path == "/v1/login":
            return per + slack
        if path == "/v1/compare":
            return 2 * per + slack
        if path.startswith(("/v1/users", "/v1/sync/users")):
            return settings.request_body_limit
        return slack

    return limit


def create_app(settings: Settings | None = None, *, embedder_loader: EmbedderLoader = load_embedder) -> FastAPI:
    settings = settings or Settings.from_env()
    rt = Runtime(settings, embedder_loader=embedder_loader)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt.start()
        try:
            yield
        finally:
            rt.stop()

    app = FastAPI(
        title="facefleet recognizer",
        version=VERSION,
        lifespan=lifespan,
        description="Face login: enrol users, log in by face (1:1 or 1:N), signed expiring tokens. "
        'Every error body is {"error", "detail"}.',
    )
    app.state.runtime = rt
    app.include_router(router)
    app.include_router(sync_router)
    app.add_exception_handler(FacefleetError, on_facefleet_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_middleware(BodyLimit, limit_for=body_limit_for(settings))
    app.add_middleware(Observe)  # added last = outermost: sees every response, even BodyLimit's
    return app
