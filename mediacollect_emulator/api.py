"""The Media Collection API as the spec describes it, plus read-back and fault endpoints.

* ``POST /api/v1/sessions``: a valid sessionStart gets ``201`` + ``Location``; anything else a
  ``400`` whose ``message`` names the event, the field and the rule (``mediacollect._rules``,
  the same table the tracker checks before sending).
* ``POST /api/v1/sessions/{sid}/events``: ``204``; ``404`` unknown sid; ``410`` closed session.
* CORS exactly as Adobe's responses carry it (spec §1.9), on every answer, and preflights.
* ``/_emulator/...``: what was received (JSON), and scripted faults for tests.

Bad input is always a 4xx with a message, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediacollect import validate_body

from ._store import Store

log = logging.getLogger("mediacollect_emulator")

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
PREFLIGHT_MAX_AGE = "600"


@dataclass
class Fault:
    """Answer the next ``count`` matching requests with ``status`` (and/or a delay)."""

    status: int | None = None
    count: int = 1
    event_type: str | None = None  # match only this eventType
    endpoint: str | None = None  # "sessions" | "events"
    message: str = "fault injected by the emulator"
    retry_after: str | None = None
    delay_ms: int = 0
    drop: bool = False  # cut the connection mid-answer: the client sees a network error

    def matches(self, endpoint: str, event_type: str | None) -> bool:
        return (self.endpoint in (None, endpoint)) and (self.event_type in (None, event_type))


@dataclass
class EmulatorState:
    store: Store
    expose_location: bool = True
    faults: list[Fault] = field(default_factory=list)

    def take_fault(self, endpoint: str, event_type: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.matches(endpoint, event_type):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None


def cors_headers(expose_location: bool) -> dict[str, str]:
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "OPTIONS,POST,PUT",
        "Access-Control-Allow-Headers": "Content-Type",
    }
    if expose_location:
        headers["Access-Control-Expose-Headers"] = "Location"
    return headers


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"request: body is not valid JSON ({name} is not a JSON number)")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth, stopping early past ``limit``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


async def read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest("request: Content-Type must be application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise BadRequest(f"request: body larger than {MAX_BODY_BYTES} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(f"request: body larger than {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except BadRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadRequest(f"request: body is not valid JSON ({type(err).__name__})") from None
    if _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequest(f"request: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return body


class DroppedConnection(Response):
    """Starts an answer, then breaks the connection: what a client sees when a network drops."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"100"), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionAbortedError("fault: connection dropped by the emulator")


def create_api_app(store: Store, *, expose_location: bool = True) -> Starlette:
    state = EmulatorState(store, expose_location=expose_location)

    def respond(status: int, message: str | None = None, extra: dict[str, str] | None = None) -> Response:
        headers = cors_headers(state.expose_location) | (extra or {})
        if message is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse({"message": message}, status_code=status, headers=headers)

    async def handle(request: Request, endpoint: str, sid: str | None) -> Response:
        headers = {k: v for k, v in request.headers.items() if k in ("content-type", "origin", "user-agent")}
        body: Any = None
        event_type: str | None = None

        def done(status: int, message: str | None = None, extra: dict[str, str] | None = None) -> Response:
            store.record(method="POST", path=request.url.path, sid=sid, event_type=event_type, status=status,
                         message=message, headers=headers, body=body)
            log.info("%s %s %s -> %s%s", request.method, request.url.path, event_type or "-", status,
                     f" ({message})" if message else "")
            return respond(status, message, extra)

        try:
            body = await read_json(request)
        except BadRequest as err:
            return done(err.status, err.message)
        if isinstance(body, dict) and isinstance(body.get("eventType"), str):
            event_type = body["eventType"][:40]
        fault = state.take_fault(endpoint, event_type)
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.drop:
                store.record(method="POST", path=request.url.path, sid=sid, event_type=event_type, status=0,
                             message="connection dropped (fault)", headers=headers, body=body)
                return DroppedConnection()
            if fault.status is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return done(fault.status, fault.message, extra)
        if endpoint == "sessions":
            problems = validate_body(body, expected_event_type="sessionStart")
            if problems:
                return done(400, problems[0].message)
            sid = secrets.token_hex(32)
            store.create_session(sid)
            return done(201, None, {"Location": f"/api/v1/sessions/{sid}"})
        assert sid is not None
        known = store.session_state(sid)
        if known is None:
            return done(404, f"session {sid[:80]!r} is not known")
        problems = validate_body(body)
        if not problems and event_type == "sessionStart":
            return done(400, "sessionStart: eventType must be sent to /api/v1/sessions, not to events")
        if problems:
            return done(400, problems[0].message)
        if known == "closed":
            if event_type == "sessionEnd":
                return done(204)  # a repeated sessionEnd is harmless (spec §4.11)
            return done(410, "the session is closed")
        if event_type == "sessionEnd":
            store.close_session(sid)
        return done(204)

    async def sessions(request: Request) -> Response:
        return await handle(request, "sessions", None)

    async def events(request: Request) -> Response:
        return await handle(request, "events", request.path_params["sid"])

    async def preflight(request: Request) -> Response:
        return respond(204, None, {"Access-Control-Max-Age": PREFLIGHT_MAX_AGE})

    async def list_sessions(request: Request) -> Response:
        return JSONResponse(store.sessions(), headers=cors_headers(True))

    async def one_session(request: Request) -> Response:
        found = store.session(request.path_params["sid"])
        if found is None:
            return JSONResponse({"message": "no such session"}, status_code=404, headers=cors_headers(True))
        return JSONResponse(found, headers=cors_headers(True))

    async def list_requests(request: Request) -> Response:
        return JSONResponse(store.requests(), headers=cors_headers(True))

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse({"faults": 0})
        try:
            spec = await read_json(request)
            if not isinstance(spec, dict):
                raise BadRequest("fault: body must be an object")
            fault = Fault(**spec)
            if fault.status is not None and not (isinstance(fault.status, int) and 100 <= fault.status <= 599):
                raise BadRequest("fault: status must be an HTTP status code")
            if not isinstance(fault.count, int) or fault.count < 1:
                raise BadRequest("fault: count must be a positive integer")
            if not isinstance(fault.delay_ms, int) or not 0 <= fault.delay_ms <= 60_000:
                raise BadRequest("fault: delay_ms must be an integer from 0 to 60000")
            if not all(isinstance(v, str | None) for v in (fault.event_type, fault.endpoint, fault.retry_after)) \
                    or not isinstance(fault.message, str) or not isinstance(fault.drop, bool):
                raise BadRequest("fault: event_type, endpoint, retry_after and message must be strings")
        except BadRequest as err:
            return JSONResponse({"message": err.message}, status_code=err.status)
        except TypeError as err:
            return JSONResponse({"message": f"fault: {err}"}, status_code=400)
        state.faults.append(fault)
        return JSONResponse({"faults": len(state.faults)}, status_code=201)

    async def close_session(request: Request) -> Response:
        """Close a session as the server would after a timeout: its next event gets 410."""
        sid = request.path_params["sid"]
        if store.session_state(sid) is None:
            return JSONResponse({"message": "no such session"}, status_code=404)
        store.close_session(sid)
        return JSONResponse({"closed": sid})

    async def reset(request: Request) -> Response:
        store.reset()
        state.faults.clear()
        return JSONResponse({"reset": True})

    routes = [
        Route("/api/v1/sessions", sessions, methods=["POST"]),
        Route("/api/v1/sessions/{sid}/events", events, methods=["POST"]),
        Route("/api/v1/{rest:path}", preflight, methods=["OPTIONS"]),
        Route("/_emulator/sessions", list_sessions, methods=["GET"]),
        Route("/_emulator/sessions/{sid}", one_session, methods=["GET"]),
        Route("/_emulator/requests", list_requests, methods=["GET"]),
        Route("/_emulator/sessions/{sid}/close", close_session, methods=["POST"]),
        Route("/_emulator/faults", faults, methods=["POST", "DELETE"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.emulator = state
    return app
