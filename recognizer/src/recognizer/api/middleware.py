"""ASGI middleware: request body limits, and per-request metrics + JSON access log + last-resort 503.

Both are plain ASGI (no BaseHTTPMiddleware), so a body over the limit is refused while it is
being read, and an unexpected exception anywhere below still gets a contract error body.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recognizer import telemetry

log = logging.getLogger("recognizer.http")
ERROR_KEY = "facefleet.error"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"The request body is over the limit of {limit} bytes.")


def _json_response(
    status: int, body: dict[str, str], headers: list[tuple[bytes, bytes]] | None = None
) -> Callable[[Send], Awaitable[None]]:
    payload = json.dumps(body).encode()

    async def respond(send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
                + (headers or []),
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return respond


class BodyLimit:
    """Refuse request bodies over `limit_for(path)` bytes: by Content-Length at once, else while reading."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            scope[ERROR_KEY] = "image_too_large"
            await _json_response(
                413, {"error": "image_too_large", "detail": BodyTooLarge(limit).detail}, [(b"connection", b"close")]
            )(send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


class Observe:
    """Count and time every request by route template and outcome; log one JSON line; never answer 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        status = {"code": 0}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            scope[ERROR_KEY] = "unavailable"
            if status["code"] == 0:
                status["code"] = 503
                await _json_response(
                    503, {"error": "unavailable", "detail": "The service hit an internal error; try again."}
                )(send)
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        code = status["code"]
        outcome = "ok" if code < 400 else str(scope.get(ERROR_KEY) or code)
        elapsed = time.perf_counter() - start
        method = scope.get("method", "")
        telemetry.REQUESTS.labels(route=route, method=method, status=str(code), outcome=outcome).inc()
        telemetry.LATENCY.labels(route=route, method=method, outcome=outcome).observe(elapsed)
        if route not in ("/healthz", "/metrics"):
            log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "status": code,
                        "outcome": outcome,
                        "ms": round(elapsed * 1000, 1),
                    }
                },
            )
