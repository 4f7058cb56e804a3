"""The collection API (``/api/v1/*``): the endpoints a tracker talks to, as the spec describes them.

* ``POST /api/v1/sessions``: a valid sessionStart gets ``201`` + ``Location``; an array body is
  the deprecated offline form (needs ``media.downloaded: true``); anything else a ``400`` whose
  ``message`` names the event, the field and the rule (``mediacollect.rules``, the same table
  the tracker checks before sending).
* ``POST /api/v1/sessions/{sid}/events``: ``204``; ``404`` unknown sid; ``410`` closed session
  (sessionEnd, 10 min without events, 30 min without playhead movement; ``_sessions``).
* ``POST /api/v1/downloaded``: a whole session as an array; ``201``, or ``400`` discarding it all.
* ``GET /api/v1/schemas/{eventType}``: the JSON Schema the emulator validates that event against.
* CORS exactly as Adobe's responses carry it (spec §1.9), on every answer, and preflights: the
  collection API is open to every origin, as the real one is.

Served by a small ASGI handler of its own because it is the hot path (and by ``_fastpath`` for
event posts). Every body goes through ``_decode`` first. A request's writes are its own group in
the store: if they cannot be stored that request alone answers ``500`` (``503`` while the store is
unavailable), and an opened session whose start was not stored is forgotten again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from mediacollect.rules import validate_body

from ._decode import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_BODY_BYTES,
    BadRequest,
    ascii_int,
    check_content_type,
    check_headers,
    decode_json,
    headers_json,
    kept_headers,
)
from ._faults import BODYLESS
from ._forward import UpstreamError
from ._schemas import schema_json
from ._sessions import Session
from ._state import EmulatorState
from ._store import Op, StoreError, StoreUnavailable, op_insert_request

access_log = logging.getLogger("mediacollect_emulator.access")

PREFLIGHT_MAX_AGE = "600"
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
# Work on a big offline batch is done in slices of this many events, handing the event loop
# back in between: 20,000 events judged at once held every other answer for about a second.
BATCH_SLICE = 256
# A body this large is decoded on a thread (the loop goes on answering meanwhile).
THREAD_DECODE_BYTES = 256 * 1024


class DroppedByFault(ConnectionAbortedError):
    """Raised to make uvicorn cut a connection mid-answer (a ``drop`` fault): not an error of the
    emulator, so the CLI keeps it out of the log."""


@dataclass
class Reply:
    status: int
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # a JSON document instead of {"message": ...}
    drop: bool = False


def cors_headers(expose_location: bool) -> dict[str, str]:
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "OPTIONS,POST,PUT",
        "Access-Control-Allow-Headers": "Content-Type",
    }
    if expose_location:
        headers["Access-Control-Expose-Headers"] = "Location"
    return headers


def store_failure(error: BaseException | None) -> Reply:
    """The answer to a request whose writes did not reach the disk."""
    if isinstance(error, StoreUnavailable):
        return Reply(503, f"store unavailable: {error}", {"Retry-After": "5"})
    return Reply(500, f"store: {error or 'cancelled'}")


def _player_time(body: Any) -> tuple[int, float]:
    player_time = body["playerTime"]
    return int(player_time["ts"]), float(player_time["playhead"])


def _event_type(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("eventType"), str):
        return str(body["eventType"][:40])
    return None


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
        # What the emulator learns about this request, to store (its row) and log.
        facts: dict[str, Any] = {"sid": sid, "event_type": None, "body": None}
        if route is None:
            reply = Reply(404, f"no such endpoint: {path[:100]}")
        elif method == "OPTIONS":
            reply = Reply(204, headers={"Access-Control-Max-Age": PREFLIGHT_MAX_AGE})
        elif method not in allowed:
            reply = Reply(405, f"{method[:10]} is not allowed here", headers={"Allow": ", ".join(allowed)})
        elif route == "schemas":
            schema = schema_json(parts[4])
            reply = Reply(404, f"no schema for event type {parts[4][:40]!r}") if schema is None else \
                Reply(200, body=schema)
        else:
            ops: list[Op] = []
            try:
                check_headers(scope["headers"])
                facts["headers"] = kept_headers(scope["headers"])
                reply = await self._collect(route, sid, facts["headers"], receive, facts, ops)
            except BadRequest as err:
                reply = Reply(err.status, err.message)
            ops.insert(0, self._request_row(method, path, facts, reply))  # before any UPDATE of it
            try:
                await self.store.write(ops)
            except StoreError as err:  # this request's writes alone failed
                reply = self.not_stored(reply, facts, err)
        await self._send(send, reply)
        self.log_request(method, path, facts, reply, started)

    def not_stored(self, reply: Reply, facts: dict[str, Any], error: BaseException | None) -> Reply:
        """What a request answers when its writes failed; a session it opened is forgotten again."""
        if reply.status == 201 and facts.get("sid"):
            self.sessions.forget(facts["sid"])
        return store_failure(error)

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

    def _request_row(self, method: str, path: str, facts: dict[str, Any], reply: Reply) -> Op:
        request_id = facts.get("id") or self.store.new_request_id()
        ts = playhead = None
        if facts.get("accepted"):  # only what the server took has a place in the session's timeline
            ts, playhead = _player_time(facts["body"])
        return op_insert_request(
            request_id, self.sessions.clock(), method, path[:300], facts["sid"], facts["event_type"],
            0 if reply.drop else reply.status,
            "connection dropped (fault)" if reply.drop else reply.message or facts.get("note"),
            headers_json(facts.get("headers")), facts.get("raw"), ts, playhead, facts.get("upstream_status"),
            facts.get("seq"))

    async def _read(self, headers: dict[str, str], receive: Any, limit: int) -> bytes:
        check_content_type(headers.get("content-type", ""))
        declared = headers.get("content-length")
        if declared is not None:
            length = ascii_int(declared)
            if length is None or length > limit:
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
                       facts: dict[str, Any], ops: list[Op]) -> Reply:
        limit = MAX_BATCH_BYTES if route == "downloaded" else MAX_BODY_BYTES
        raw = await self._read(headers, receive, limit)
        body = await asyncio.to_thread(decode_json, raw) if len(raw) > THREAD_DECODE_BYTES else decode_json(raw)
        facts["raw"] = raw.decode("utf-8")
        facts["body"] = body
        facts["event_type"] = _event_type(body)
        fault = self.state.take_fault(route, facts["event_type"])
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.drop:
                return Reply(0, drop=True)
            if fault.status is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return Reply(fault.status, None if fault.status in BODYLESS else fault.message, extra)
        if route == "events":
            assert sid is not None
            return await self._event(sid, body, facts, ops)
        if isinstance(body, list):
            if route == "sessions" and body:
                first = body[0] if isinstance(body[0], dict) else {}
                params = first.get("params")
                if not isinstance(params, dict) or params.get("media.downloaded") is not True:
                    return Reply(400, "sessionStart: params.media.downloaded must be true in an offline batch posted "
                                      "to /api/v1/sessions (deprecated form; prefer /api/v1/downloaded)")
            return await self._batch(route, body, facts, ops)
        if route == "downloaded":
            return Reply(400, "request: body must be a JSON array of events (sessionStart first)")
        return await self._session_start(body, facts, ops)

    async def _session_start(self, body: Any, facts: dict[str, Any], ops: list[Op]) -> Reply:
        problems = validate_body(body, expected_event_type="sessionStart")
        if problems:
            return Reply(400, problems[0].message)
        if body["params"].get("media.downloaded") is True:
            return Reply(400, "sessionStart: params.media.downloaded is only allowed in an offline batch "
                              "(an array posted to /api/v1/downloaded)")
        upstream_sid = None
        if self.state.upstream is not None:
            forwarded = await self._forward("/api/v1/sessions", facts)
            if forwarded.status != 201:
                return forwarded
            upstream_sid = forwarded.headers.pop("sid")
        sid = secrets.token_hex(32)
        facts["sid"] = sid
        facts["id"] = request_id = self.store.new_request_id()
        facts["accepted"] = True
        ts, playhead = _player_time(body)
        ops.append(self.sessions.open(sid, playhead, upstream_sid=upstream_sid))
        session = self.sessions.get(sid)
        assert session is not None
        ops.append(self.sessions.first_event(session, request_id, ts))
        return Reply(201, headers={"Location": f"/api/v1/sessions/{sid}"})

    def _judge_event(self, sid: str, body: Any, facts: dict[str, Any], ops: list[Op]) -> Reply | Session:
        """The server's verdict on one event, or the open session that will take it."""
        session = self.sessions.get(sid)
        if session is None:
            return Reply(404, f"session {sid[:80]!r} is not known")
        ops += self.sessions.expire(session)
        problems = validate_body(body)
        if not problems and facts["event_type"] == "sessionStart":
            return Reply(400, "sessionStart: eventType must be sent to /api/v1/sessions, not to events")
        if problems:
            return Reply(400, problems[0].message)
        if session.closed:
            if facts["event_type"] == "sessionEnd":
                return Reply(204)  # a repeated sessionEnd is harmless (spec §4.11)
            return Reply(410, f"the session is closed ({session.closed_reason})")
        return session

    def _take_event(self, session: Session, body: Any, facts: dict[str, Any], ops: list[Op]) -> Reply:
        facts["id"] = request_id = self.store.new_request_id()
        facts["accepted"] = True
        ts, playhead = _player_time(body)
        ops += self.sessions.accept(session, request_id, ts, playhead)
        if facts["event_type"] == "sessionEnd":
            ops += self.sessions.close(session, "sessionEnd received")
        return Reply(204)

    async def _event(self, sid: str, body: Any, facts: dict[str, Any], ops: list[Op]) -> Reply:
        verdict = self._judge_event(sid, body, facts, ops)
        if isinstance(verdict, Reply):
            return verdict
        session = verdict
        if self.state.upstream is not None and session.upstream_sid is not None:
            forwarded = await self._forward(f"/api/v1/sessions/{session.upstream_sid}/events", facts)
            if forwarded.status in (404, 410):
                ops += self.sessions.close(session, f"the upstream answered {forwarded.status}")
            if not 200 <= forwarded.status < 300:
                return forwarded
        return self._take_event(session, body, facts, ops)

    # -- the fast path (see _fastpath.py) -------------------------------------------------------

    @property
    def fast_path_open(self) -> bool:
        """Events can be answered without the ASGI machinery: no fault scripted, no forwarding."""
        return not self.state.faults and self.state.upstream is None

    def event_now(self, path: str, sid: str, headers: dict[str, str], raw: bytes) -> tuple[Reply, list[Op],
                                                                                           dict[str, Any]]:
        """An event posted to ``path``, judged synchronously: the reply and the writes it needs."""
        facts: dict[str, Any] = {"sid": sid, "event_type": None, "body": None, "headers": headers}
        ops: list[Op] = []
        try:
            body = decode_json(raw)
            facts["raw"] = raw.decode("utf-8")
            facts["body"] = body
            facts["event_type"] = _event_type(body)
            verdict = self._judge_event(sid, body, facts, ops)
            reply = verdict if isinstance(verdict, Reply) else self._take_event(verdict, body, facts, ops)
        except BadRequest as err:
            reply = Reply(err.status, err.message)
        ops.insert(0, self._request_row("POST", path, facts, reply))
        return reply, ops, facts

    def wire_response(self, reply: Reply, *, close: bool) -> bytes:
        """The whole HTTP/1.1 response, for the fast path."""
        headers, payload = self._head(reply)
        if close:
            headers.append((b"connection", b"close"))
        lines = [f"HTTP/1.1 {reply.status} {_PHRASES.get(reply.status, '')}".encode()]
        lines += [name + b": " + value for name, value in headers]
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload

    def log_request(self, method: str, path: str, facts: dict[str, Any], reply: Reply, started: float) -> None:
        took = time.perf_counter() - started
        self.state.answer_times.add(took)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("", extra={"fields": {
                "method": method, "path": path[:200], "status": reply.status, "event": facts["event_type"],
                "sid": (facts["sid"] or "")[:16] or None, "ms": round(took * 1000, 2),
                "message": reply.message}})

    async def _batch(self, route: str, body: list[Any], facts: dict[str, Any], ops: list[Op]) -> Reply:
        if not body:
            return Reply(400, "request: an offline batch must hold at least a sessionStart")
        if len(body) > MAX_BATCH_EVENTS:
            return Reply(400, f"request: an offline batch holds at most {MAX_BATCH_EVENTS} events")
        for index, event in enumerate(body):
            if index % BATCH_SLICE == BATCH_SLICE - 1:
                await asyncio.sleep(0)  # let the other requests be answered
            expected = "sessionStart" if index == 0 else None
            problems = validate_body(event, expected_event_type=expected)
            if not problems and index > 0 and event["eventType"] == "sessionStart":
                return Reply(400, f"event {index}: sessionStart may only be the first event of a batch")
            if problems:
                return Reply(400, f"event {index}: {problems[0].message} (the whole batch was discarded)")
        if self.state.upstream is not None:
            forwarded = await self._forward("/api/v1/downloaded", facts)
            if forwarded.status != 201:
                return forwarded
        sid = secrets.token_hex(32)
        facts["sid"] = sid
        facts["event_type"] = f"batch of {len(body)}"
        ops.append(self.sessions.open(sid, 0.0, kind="downloaded"))
        session = self.sessions.get(sid)
        assert session is not None
        order = sorted(range(len(body)), key=lambda i: (int(body[i]["playerTime"]["ts"]), i))
        seq = {index: position + 1 for position, index in enumerate(order)}
        accepted = Reply(201)
        for index, event in enumerate(body):
            if index % BATCH_SLICE == BATCH_SLICE - 1:
                await asyncio.sleep(0)
            row = {"sid": sid, "event_type": event["eventType"], "body": event, "raw": json.dumps(event),
                   "headers": facts.get("headers"), "upstream_status": facts.get("upstream_status"),
                   "note": f"offline batch, event {index} of {len(body)}", "id": self.store.new_request_id(),
                   "accepted": True, "seq": seq[index]}
            ops.append(self._request_row("POST", f"/api/v1/{route}", row, accepted))
        session.processed = len(body)
        ops += self.sessions.close(session, "offline batch (processed as a whole)")
        # Each event has its own row under the new sid; the HTTP request's row points there.
        facts["raw"] = facts["sid"] = None
        facts["note"] = f"offline batch of {len(body)} events stored as session {sid}"
        return Reply(201, headers={"Location": f"/api/v1/sessions/{sid}"})

    async def _forward(self, path: str, facts: dict[str, Any]) -> Reply:
        upstream = self.state.upstream
        assert upstream is not None
        try:
            status, headers, text = await upstream.post(path, facts["raw"].encode())
        except UpstreamError as err:
            facts["upstream_status"] = 0
            return Reply(502, f"forward: {err}")
        facts["upstream_status"] = status
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
        if reply.status in BODYLESS:
            payload = b""
        elif reply.body is not None:
            payload = reply.body
        elif reply.message is not None:
            payload = json.dumps({"message": reply.message}).encode()
        else:
            payload = b""
        if payload:
            headers.append((b"content-type", b"application/json"))
        if reply.status not in (204, 304):  # the two that must not carry Content-Length (RFC 9110)
            headers.append((b"content-length", str(len(payload)).encode()))
        return headers, payload

    async def _send(self, send: Any, reply: Reply) -> None:
        if reply.drop:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"100"), (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise DroppedByFault("fault: connection dropped by the emulator")
        headers, payload = self._head(reply)
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
