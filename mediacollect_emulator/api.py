"""The Media Collection API as the spec describes it, plus read-back, inspection and fault endpoints.

Collection (spec §1, §4), served by a small ASGI handler of its own because it is the hot path:

* ``POST /api/v1/sessions``: a valid sessionStart gets ``201`` + ``Location``; an array body is
  the deprecated offline form (needs ``media.downloaded: true``); anything else a ``400`` whose
  ``message`` names the event, the field and the rule (``mediacollect._rules``, the same table
  the tracker checks before sending).
* ``POST /api/v1/sessions/{sid}/events``: ``204``; ``404`` unknown sid; ``410`` closed session
  (sessionEnd, 10 min without events, 30 min without playhead movement; ``_sessions``).
* ``POST /api/v1/downloaded``: a whole session as an array; ``201``, or ``400`` discarding it all.
* ``GET /api/v1/schemas/{eventType}``: the JSON Schema the emulator validates that event against.
* CORS exactly as Adobe's responses carry it (spec §1.9), on every answer, and preflights.

Inspection (Starlette): ``/_emulator/...`` read-back as JSON (sessions, metrics, timeline,
JSON-lines export, raw requests), scripted faults, and the web UI at ``/``.

Bad input is always a 4xx with a message, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mediacollect import validate_body

from ._analysis import analyse
from ._forward import Upstream, UpstreamError
from ._schemas import schema_for
from ._sessions import ServerRules, Session, Sessions
from ._store import INSERT_REQUEST, Op, Store

log = logging.getLogger("mediacollect_emulator")
access_log = logging.getLogger("mediacollect_emulator.access")

MAX_BODY_BYTES = 64 * 1024  # one event; Adobe documents no limit (spec §4.16), ours is generous
MAX_BATCH_BYTES = 4 * 1024 * 1024  # an offline session: hours of pings
MAX_BATCH_EVENTS = 20_000
MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 19  # ts is an int64; nothing in a body needs a longer integer
PREFLIGHT_MAX_AGE = "600"
KEPT_HEADERS = {b"content-type": "content-type", b"origin": "origin", b"user-agent": "user-agent",
                 b"content-length": "content-length"}  # what a request row keeps
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
TICK_SECONDS = 0.05  # how often timeouts and reorder windows are applied without traffic
UI_DIR = Path(__file__).resolve().parent / "ui"
UI_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
                               " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass
class Fault:
    """Answer the next ``count`` matching requests with ``status`` (and/or a delay)."""

    status: int | None = None
    count: int = 1
    event_type: str | None = None  # match only this eventType
    endpoint: str | None = None  # "sessions" | "events" | "downloaded"
    message: str = "fault injected by the emulator"
    retry_after: str | None = None
    delay_ms: int = 0
    drop: bool = False  # cut the connection mid-answer: the client sees a network error

    def matches(self, endpoint: str, event_type: str | None) -> bool:
        return (self.endpoint in (None, endpoint)) and (self.event_type in (None, event_type))


class AnswerTimes:
    """How long the emulator takes to answer a collection API request, from the request read to
    the answer written (its commit included): a cumulative histogram in 0.1 ms steps up to 1 s,
    served at ``/_emulator/stats``. A reader compares two snapshots to see a window (the load
    benchmark does, to tell the server's latency from its load generator's)."""

    STEP_MS = 0.1
    LAST = 10_000  # the bucket of every answer that took 1 s or more

    def __init__(self) -> None:
        self.counts = [0] * (self.LAST + 1)

    def add(self, seconds: float) -> None:
        self.counts[min(int(seconds * 1000 / self.STEP_MS), self.LAST)] += 1

    def snapshot(self) -> dict[str, Any]:
        return {"step_ms": self.STEP_MS, "total": sum(self.counts),
                "counts": {str(i): n for i, n in enumerate(self.counts) if n}}


def garbage_collector() -> dict[str, Any]:
    """The cycle collector's passes so far and what they freed, for load tests: a pass stops
    every answer while it runs, and a request that leaves a reference cycle behind makes passes
    frequent and long (tests/emulator/test_fastpath.py)."""
    stats = gc.get_stats()
    return {"threshold": gc.get_threshold()[0], "collections": sum(gen["collections"] for gen in stats),
            "collected": sum(gen["collected"] for gen in stats)}


@dataclass
class EmulatorState:
    store: Store
    sessions: Sessions
    expose_location: bool = True
    upstream: Upstream | None = None
    faults: list[Fault] = field(default_factory=list)
    answer_times: AnswerTimes = field(default_factory=AnswerTimes)

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


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise BadRequest(f"request: number {text[:24]}... is too large (integers have at most "
                         f"{MAX_INTEGER_DIGITS} digits)")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadRequest(f"request: number {text[:24]} is too large for a double")
    return value


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


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)


def decode_json(raw: bytes) -> Any:
    try:
        body = _DECODER.decode(raw.decode("utf-8"))
    except BadRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadRequest(f"request: body is not valid JSON ({type(err).__name__})") from None
    # Counting brackets is far cheaper than walking the document, and bounds the depth.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequest(f"request: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def _check_content_type(content_type: str) -> None:
    if content_type != "application/json" and content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest("request: Content-Type must be application/json")


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """For the inspection endpoints (Starlette requests)."""
    _check_content_type(request.headers.get("content-type", ""))
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise BadRequest(f"request: body larger than {limit} bytes", 413)
    return decode_json(raw)


@dataclass
class Reply:
    status: int
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # a JSON document instead of {"message": ...}
    drop: bool = False


def _player_time(body: Any) -> tuple[int, float]:
    player_time = body["playerTime"]
    return int(player_time["ts"]), float(player_time["playhead"])


_HEADER_JSON: dict[tuple[tuple[str, str], ...], str] = {}


def _headers_json(headers: dict[str, str] | None) -> str:
    """A request row's headers as JSON; a client sends the same ones every time, so the text is
    kept (Content-Length is left out: the body is stored)."""
    key = tuple(item for item in (headers or {}).items() if item[0] != "content-length")
    text = _HEADER_JSON.get(key)
    if text is None:
        if len(_HEADER_JSON) > 4096:
            _HEADER_JSON.clear()
        text = _HEADER_JSON[key] = json.dumps(dict(key))
    return text


class CollectionApi:
    """``/api/v1/*``: the endpoints a tracker talks to."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.store = state.store
        self.sessions = state.sessions
        self.cors = [(k.lower().encode(), v.encode()) for k, v in cors_headers(state.expose_location).items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        parts = path.split("/")  # "", "api", "v1", ...
        route, sid, allowed = self._route(parts)
        record: dict[str, Any] = {"sid": sid, "event_type": None, "body": None}
        if route is None:
            reply = Reply(404, f"no such endpoint: {path[:100]}")
        elif method == "OPTIONS":
            reply = Reply(204, headers={"Access-Control-Max-Age": PREFLIGHT_MAX_AGE})
        elif method not in allowed:
            reply = Reply(405, f"{method[:10]} is not allowed here", headers={"Allow": ", ".join(allowed)})
        elif route == "schemas":
            schema = schema_for(parts[4])
            reply = Reply(404, f"no schema for event type {parts[4][:40]!r}") if schema is None else \
                Reply(200, body=json.dumps(schema).encode())
        else:
            headers = {}
            for name, value in scope["headers"]:
                if name in KEPT_HEADERS:
                    headers[KEPT_HEADERS[name]] = value.decode("latin-1")
            record["headers"] = headers
            ops: list[Op] = []
            try:
                reply = await self._collect(route, sid, headers, receive, record, ops)
            except BadRequest as err:
                reply = Reply(err.status, err.message)
            ops.insert(0, self._request_row(method, path, record, reply))  # before any UPDATE of it
            await self.store.write(ops)
        await self._send(send, reply)
        self.log_request(method, path, record, reply, started)

    @staticmethod
    def _route(parts: list[str]) -> tuple[str | None, str | None, tuple[str, ...]]:
        if len(parts) == 4 and parts[3] == "sessions":
            return "sessions", None, ("POST",)
        if len(parts) == 6 and parts[3] == "sessions" and parts[5] == "events" and parts[4]:
            return "events", parts[4][:200], ("POST",)
        if len(parts) == 4 and parts[3] == "downloaded":
            return "downloaded", None, ("POST",)
        if len(parts) == 5 and parts[3] == "schemas" and parts[4]:
            return "schemas", None, ("GET", "HEAD")
        return None, None, ()

    def _request_row(self, method: str, path: str, record: dict[str, Any], reply: Reply) -> Op:
        request_id = record.get("id") or self.store.new_request_id()
        ts = playhead = None
        if 200 <= reply.status < 300 and isinstance(record["body"], dict):
            ts, playhead = _player_time(record["body"])
        return (INSERT_REQUEST, (
            request_id, self.sessions.clock(), method, path[:300], record["sid"], record["event_type"],
            0 if reply.drop else reply.status,
            "connection dropped (fault)" if reply.drop else reply.message or record.get("note"),
            _headers_json(record.get("headers")), record.get("raw"), ts, playhead, record.get("upstream_status")))

    async def _read(self, headers: dict[str, str], receive: Any, limit: int) -> bytes:
        _check_content_type(headers.get("content-type", ""))
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise BadRequest(f"request: body larger than {limit} bytes", 413)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest("request: client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BadRequest(f"request: body larger than {limit} bytes", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _collect(self, route: str, sid: str | None, headers: dict[str, str], receive: Any,
                       record: dict[str, Any], ops: list[Op]) -> Reply:
        limit = MAX_BATCH_BYTES if route == "downloaded" else MAX_BODY_BYTES
        raw = await self._read(headers, receive, limit)
        body = decode_json(raw)
        record["raw"] = raw.decode("utf-8")
        record["body"] = body
        if isinstance(body, dict) and isinstance(body.get("eventType"), str):
            record["event_type"] = body["eventType"][:40]
        fault = self.state.take_fault(route, record["event_type"])
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.drop:
                return Reply(0, drop=True)
            if fault.status is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return Reply(fault.status, fault.message, extra)
        if route == "events":
            assert sid is not None
            return await self._event(sid, body, record, ops)
        if isinstance(body, list):
            if route == "sessions" and body:
                first = body[0] if isinstance(body[0], dict) else {}
                params = first.get("params")
                if not isinstance(params, dict) or params.get("media.downloaded") is not True:
                    return Reply(400, "sessionStart: params.media.downloaded must be true in an offline batch posted "
                                      "to /api/v1/sessions (deprecated form; prefer /api/v1/downloaded)")
            return await self._batch(route, body, record, ops)
        if route == "downloaded":
            return Reply(400, "request: body must be a JSON array of events (sessionStart first)")
        return await self._session_start(body, record, ops)

    async def _session_start(self, body: Any, record: dict[str, Any], ops: list[Op]) -> Reply:
        problems = validate_body(body, expected_event_type="sessionStart")
        if problems:
            return Reply(400, problems[0].message)
        if body["params"].get("media.downloaded") is True:
            return Reply(400, "sessionStart: params.media.downloaded is only allowed in an offline batch "
                              "(an array posted to /api/v1/downloaded)")
        upstream_sid = None
        if self.state.upstream is not None:
            forwarded = await self._forward("/api/v1/sessions", record)
            if forwarded.status != 201:
                return forwarded
            upstream_sid = forwarded.headers.pop("sid")
        sid = secrets.token_hex(32)
        record["sid"] = sid
        record["id"] = request_id = self.store.new_request_id()
        ts, playhead = _player_time(body)
        ops.append(self.sessions.open(sid, playhead, upstream_sid=upstream_sid))
        session = self.sessions.get(sid)
        assert session is not None
        ops.append(self.sessions.first_event(session, request_id, ts))
        return Reply(201, headers={"Location": f"/api/v1/sessions/{sid}"})

    def _judge_event(self, sid: str, body: Any, record: dict[str, Any], ops: list[Op]) -> Reply | Session:
        """The server's verdict on one event, or the open session that will take it."""
        session = self.sessions.get(sid)
        if session is None:
            return Reply(404, f"session {sid[:80]!r} is not known")
        ops += self.sessions.expire(session)
        problems = validate_body(body)
        if not problems and record["event_type"] == "sessionStart":
            return Reply(400, "sessionStart: eventType must be sent to /api/v1/sessions, not to events")
        if problems:
            return Reply(400, problems[0].message)
        if session.closed:
            if record["event_type"] == "sessionEnd":
                return Reply(204)  # a repeated sessionEnd is harmless (spec §4.11)
            return Reply(410, f"the session is closed ({session.closed_reason})")
        return session

    def _take_event(self, session: Session, body: Any, record: dict[str, Any], ops: list[Op]) -> Reply:
        record["id"] = request_id = self.store.new_request_id()
        ts, playhead = _player_time(body)
        ops += self.sessions.accept(session, request_id, ts, playhead)
        if record["event_type"] == "sessionEnd":
            ops += self.sessions.close(session, "sessionEnd received")
        return Reply(204)

    async def _event(self, sid: str, body: Any, record: dict[str, Any], ops: list[Op]) -> Reply:
        verdict = self._judge_event(sid, body, record, ops)
        if isinstance(verdict, Reply):
            return verdict
        session = verdict
        if self.state.upstream is not None and session.upstream_sid is not None:
            forwarded = await self._forward(f"/api/v1/sessions/{session.upstream_sid}/events", record)
            if forwarded.status in (404, 410):
                ops += self.sessions.close(session, f"the upstream answered {forwarded.status}")
            if not 200 <= forwarded.status < 300:
                return forwarded
        return self._take_event(session, body, record, ops)

    # -- the fast path (see _fastpath.py) -------------------------------------------------------

    @property
    def fast_path_open(self) -> bool:
        """Events can be answered without the ASGI machinery: no fault scripted, no forwarding."""
        return not self.state.faults and self.state.upstream is None

    def event_now(self, path: str, sid: str, headers: dict[str, str], raw: bytes) -> tuple[Reply, list[Op],
                                                                                           dict[str, Any]]:
        """An event posted to ``path``, judged synchronously: the reply and the writes it needs."""
        record: dict[str, Any] = {"sid": sid, "event_type": None, "body": None, "headers": headers}
        ops: list[Op] = []
        try:
            body = decode_json(raw)
            record["raw"] = raw.decode("utf-8")
            record["body"] = body
            if isinstance(body, dict) and isinstance(body.get("eventType"), str):
                record["event_type"] = body["eventType"][:40]
            verdict = self._judge_event(sid, body, record, ops)
            reply = verdict if isinstance(verdict, Reply) else self._take_event(verdict, body, record, ops)
        except BadRequest as err:
            reply = Reply(err.status, err.message)
        ops.insert(0, self._request_row("POST", path, record, reply))
        return reply, ops, record

    def wire_response(self, reply: Reply, *, close: bool) -> bytes:
        """The whole HTTP/1.1 response, for the fast path."""
        headers, payload = self._head(reply)
        if close:
            headers.append((b"connection", b"close"))
        lines = [f"HTTP/1.1 {reply.status} {_PHRASES.get(reply.status, '')}".encode()]
        lines += [name + b": " + value for name, value in headers]
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload

    def log_request(self, method: str, path: str, record: dict[str, Any], reply: Reply, started: float) -> None:
        took = time.perf_counter() - started
        self.state.answer_times.add(took)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("", extra={"fields": {
                "method": method, "path": path[:200], "status": reply.status, "event": record["event_type"],
                "sid": (record["sid"] or "")[:16] or None, "ms": round(took * 1000, 2),
                "message": reply.message}})

    async def _batch(self, route: str, body: list[Any], record: dict[str, Any], ops: list[Op]) -> Reply:
        if not body:
            return Reply(400, "request: an offline batch must hold at least a sessionStart")
        if len(body) > MAX_BATCH_EVENTS:
            return Reply(400, f"request: an offline batch holds at most {MAX_BATCH_EVENTS} events")
        for index, event in enumerate(body):
            expected = "sessionStart" if index == 0 else None
            problems = validate_body(event, expected_event_type=expected)
            if not problems and index > 0 and event["eventType"] == "sessionStart":
                return Reply(400, f"event {index}: sessionStart may only be the first event of a batch")
            if problems:
                return Reply(400, f"event {index}: {problems[0].message} (the whole batch was discarded)")
        if self.state.upstream is not None:
            forwarded = await self._forward("/api/v1/downloaded", record)
            if forwarded.status != 201:
                return forwarded
        sid = secrets.token_hex(32)
        record["sid"] = sid
        record["event_type"] = f"batch of {len(body)}"
        ops.append(self.sessions.open(sid, 0.0, kind="downloaded"))
        session = self.sessions.get(sid)
        assert session is not None
        order = sorted(range(len(body)), key=lambda i: (int(body[i]["playerTime"]["ts"]), i))
        seq = {index: position + 1 for position, index in enumerate(order)}
        accepted = Reply(201)
        for index, event in enumerate(body):
            row = {"sid": sid, "event_type": event["eventType"], "body": event, "raw": json.dumps(event),
                   "headers": record.get("headers"), "upstream_status": record.get("upstream_status"),
                   "note": f"offline batch, event {index} of {len(body)}", "id": self.store.new_request_id()}
            ops.append(self._request_row("POST", f"/api/v1/{route}", row, accepted))
            ops.append(("UPDATE requests SET seq = ? WHERE id = ?", (seq[index], row["id"])))
        session.processed = len(body)
        ops += self.sessions.close(session, "offline batch (processed as a whole)")
        # Each event has its own row under the new sid; the HTTP request's row points there.
        record["raw"] = record["sid"] = None
        record["note"] = f"offline batch of {len(body)} events stored as session {sid}"
        return Reply(201, headers={"Location": f"/api/v1/sessions/{sid}"})

    async def _forward(self, path: str, record: dict[str, Any]) -> Reply:
        upstream = self.state.upstream
        assert upstream is not None
        try:
            status, headers, text = await upstream.post(path, record["raw"].encode())
        except UpstreamError as err:
            record["upstream_status"] = 0
            return Reply(502, f"forward: {err}")
        record["upstream_status"] = status
        message = None
        if status >= 300:
            try:
                parsed = json.loads(text)
                message = str(parsed.get("message")) if isinstance(parsed, dict) else text[:500]
            except ValueError:
                message = text[:500] or None
            return Reply(status, f"upstream: {message or status}")
        reply = Reply(status)
        if status == 201 and path.endswith("/sessions"):
            sid = upstream.session_id(headers.get("location", ""))
            if sid is None:
                return Reply(502, "forward: the upstream's 201 had no usable Location header")
            reply.headers["sid"] = sid
        return reply

    def _head(self, reply: Reply) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """A reply's headers (CORS always) and body: the ASGI path and the fast path send these."""
        headers = list(self.cors)
        if reply.headers:
            headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in reply.headers.items()]
        if reply.body is not None:
            payload = reply.body
        elif reply.message is not None:
            payload = json.dumps({"message": reply.message}).encode()
        else:
            payload = b""
        if payload:
            headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(payload)).encode()))
        return headers, payload

    async def _send(self, send: Any, reply: Reply) -> None:
        if reply.drop:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"100"), (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionAbortedError("fault: connection dropped by the emulator")
        headers, payload = self._head(reply)
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


# -- inspection ------------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=cors_headers(True))


def _message(message: str, status: int) -> JSONResponse:
    return _json({"message": message}, status)


def _limit(request: Request, default: int | None = None) -> int | None:
    value = request.query_params.get("limit")
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise BadRequest("limit must be an integer from 1 to 100000")
    return int(value)


def session_summary(session: Session, counts: tuple[int, int], first: dict[str, Any] | None) -> dict[str, Any]:
    params = (first or {}).get("params") or {}
    return {
        "sid": session.sid, "created_at": session.created_at, "kind": session.kind, "closed": session.closed,
        "closed_reason": session.closed_reason, "accepted_events": counts[0], "rejected_requests": counts[1],
        "media_id": params.get("media.id"), "media_name": params.get("media.name"),
        "content_type": params.get("media.contentType"), "waiting_in_window": len(session.window),
        "late_events": session.late,
    }


def create_inspection_app(state: EmulatorState, rules: ServerRules) -> Starlette:
    store, sessions = state.store, state.sessions

    async def settle(session: Session | None = None) -> None:
        """Apply what is due (timeouts, reorder windows) so a read shows the server's current view."""
        ops = sessions.process_due()
        ops += sessions.expire_all() if session is None else sessions.expire(session)
        if ops:
            await store.write(ops)

    async def found(request: Request) -> Session | Response:
        session = sessions.get(request.path_params["sid"])
        if session is None:
            return _message("no such session", 404)
        await settle(session)
        return session

    def processed(session: Session) -> list[dict[str, Any]]:
        """Accepted events in the order the server processes them: processed ones by seq, then
        the ones still waiting in the window by ts (the order they will be processed in)."""
        requests = store.session_requests(session.sid)
        done = sorted((r for r in requests if r["seq"] is not None), key=lambda r: r["seq"])
        waiting_ids = {w.request_id for w in session.window}
        waiting = sorted((r for r in requests if r["id"] in waiting_ids),
                         key=lambda r: (r["body"]["playerTime"]["ts"], r["id"]))
        return done + waiting

    async def list_sessions(request: Request) -> Response:
        await settle()
        limit = _limit(request)
        chosen = sessions.all()
        if limit is not None:
            chosen = chosen[-limit:]
        counts = store.counts()
        firsts: dict[str, dict[str, Any]] = {}
        if chosen:
            marks = ",".join("?" * len(chosen)) if len(chosen) <= 500 else None
            sql = "SELECT sid, body FROM requests WHERE seq = 1" + (f" AND sid IN ({marks})" if marks else "")
            for row in store.query(sql, [s.sid for s in chosen] if marks else []):
                if row["body"]:
                    firsts[row["sid"]] = json.loads(row["body"])
        return _json([session_summary(s, counts.get(s.sid, (0, 0)), firsts.get(s.sid)) for s in chosen])

    async def one_session(request: Request) -> Response:
        session = await found(request)
        if isinstance(session, Response):
            return session
        requests = store.session_requests(session.sid)
        order = processed(session)
        analysis = analyse(r["body"] for r in order)
        counts = (sum(1 for r in requests if 200 <= r["status"] < 300), sum(1 for r in requests if r["status"] >= 300))
        return _json({
            **session_summary(session, counts, order[0]["body"] if order else None),
            "upstream_sid": session.upstream_sid,
            "events": [r for r in requests if 200 <= r["status"] < 300],
            "rejected": [r for r in requests if not 200 <= r["status"] < 300],
            "processed": [{"id": r["id"], "seq": r["seq"], "late": r["late"], "body": r["body"]} for r in order],
            **analysis,
        })

    async def metrics(request: Request) -> Response:
        session = await found(request)
        if isinstance(session, Response):
            return session
        analysis = analyse(r["body"] for r in processed(session))
        return _json({"sid": session.sid, "closed": session.closed, "metrics": analysis["metrics"],
                      "warnings": analysis["warnings"], "late_events": session.late})

    async def export(request: Request) -> Response:
        session = await found(request)
        if isinstance(session, Response):
            return session
        lines = (json.dumps(r["body"], separators=(",", ":")) for r in processed(session))
        return Response("".join(line + "\n" for line in lines), media_type="application/x-ndjson", headers={
            **cors_headers(True), "Content-Disposition": f'attachment; filename="session-{session.sid[:16]}.jsonl"'})

    async def list_requests(request: Request) -> Response:
        return _json(store.requests(_limit(request)))

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse({"faults": 0})
        spec = await read_json(request)
        if not isinstance(spec, dict):
            raise BadRequest("fault: body must be an object")
        try:
            fault = Fault(**spec)
        except TypeError as err:
            raise BadRequest(f"fault: {err}") from None
        if fault.status is not None and not (isinstance(fault.status, int) and 100 <= fault.status <= 599):
            raise BadRequest("fault: status must be an HTTP status code")
        if not isinstance(fault.count, int) or fault.count < 1:
            raise BadRequest("fault: count must be a positive integer")
        if not isinstance(fault.delay_ms, int) or not 0 <= fault.delay_ms <= 60_000:
            raise BadRequest("fault: delay_ms must be an integer from 0 to 60000")
        if not all(isinstance(v, str | None) for v in (fault.event_type, fault.endpoint, fault.retry_after)) \
                or not isinstance(fault.message, str) or not isinstance(fault.drop, bool):
            raise BadRequest("fault: event_type, endpoint, retry_after and message must be strings")
        state.faults.append(fault)
        return JSONResponse({"faults": len(state.faults)}, status_code=201)

    async def close_session(request: Request) -> Response:
        """Close a session as the server would after a timeout: its next event gets 410."""
        session = sessions.get(request.path_params["sid"])
        if session is None:
            return _message("no such session", 404)
        await store.write(sessions.close(session, "closed from /_emulator"))
        return JSONResponse({"closed": session.sid})

    async def reset(request: Request) -> Response:
        store.reset()
        sessions.clear()
        state.faults.clear()
        return JSONResponse({"reset": True})

    async def config(request: Request) -> Response:
        return _json({**vars(rules), "expose_location": state.expose_location,
                      "forward": None if state.upstream is None else state.upstream.base_url,
                      "max_body_bytes": MAX_BODY_BYTES, "max_batch_bytes": MAX_BATCH_BYTES})

    async def stats(request: Request) -> Response:
        return _json({"answer_times": state.answer_times.snapshot(), "gc": garbage_collector()})

    async def ui_file(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in ("index.html", "ui.js", "ui.css"):
            return _message("no such file", 404)
        return FileResponse(UI_DIR / name, headers=UI_HEADERS)

    async def root(request: Request) -> Response:
        return RedirectResponse("/_emulator/ui/")

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return _message(exc.message, exc.status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def tick() -> None:
            # Short ticks with a slice of the work each: a sweep over thousands of sessions at
            # once would hold the event loop (and every request's answer) for tens of ms.
            interval = min(TICK_SECONDS, rules.real(rules.window_seconds) / 4)
            slices = max(1, round(min(1.0, rules.real(min(rules.idle_timeout, rules.stall_timeout)) / 20) / interval))
            turn = 0
            while True:
                await asyncio.sleep(interval)
                try:
                    ops = sessions.process_due()
                    ops += sessions.expire_slice(turn % slices, slices)
                    turn += 1
                    if ops:
                        await store.write(ops)
                except Exception:  # a disk fault must not stop the timers for good
                    log.exception("emulator: applying timeouts failed")

        task = asyncio.ensure_future(tick())
        try:
            yield
        finally:
            task.cancel()
            store.flush()

    routes = [
        Route("/", root, methods=["GET"]),
        Route("/_emulator/ui/", ui_file, methods=["GET"]),
        Route("/_emulator/ui/{name}", ui_file, methods=["GET"]),
        Route("/_emulator/config", config, methods=["GET"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/sessions", list_sessions, methods=["GET"]),
        Route("/_emulator/sessions/{sid}", one_session, methods=["GET"]),
        Route("/_emulator/sessions/{sid}/metrics", metrics, methods=["GET"]),
        Route("/_emulator/sessions/{sid}/export.jsonl", export, methods=["GET"]),
        Route("/_emulator/sessions/{sid}/close", close_session, methods=["POST"]),
        Route("/_emulator/requests", list_requests, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["POST", "DELETE"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={BadRequest: bad_request})


class EmulatorApp:
    """One ASGI app: the collection API's own handler for ``/api/v1/``, Starlette for the rest."""

    def __init__(self, state: EmulatorState, rules: ServerRules) -> None:
        self.state = state
        self.collection = CollectionApi(state)
        self.inspection = create_inspection_app(state, rules)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1/"):
            await self.collection(scope, receive, send)
        else:
            await self.inspection(scope, receive, send)


def create_api_app(store: Store, *, expose_location: bool = True, rules: ServerRules | None = None,
                   forward: str | None = None, clock: Callable[[], float] = time.time) -> EmulatorApp:
    rules = rules or ServerRules()
    state = EmulatorState(store, Sessions(store, rules, clock), expose_location=expose_location,
                          upstream=None if forward is None else Upstream(forward))
    return EmulatorApp(state, rules)
