"""The inspection and control API (``/_emulator/*``) and the web UI at ``/`` (Starlette).

Read-back as JSON (sessions, metrics, timeline, JSON-lines export, raw requests, config, stats),
scripted faults, server-side closes and reset. Who may call these is ``_guard``'s job (the app is
served behind it); no answer here carries CORS headers. Answers are JSON of valid text whatever
is stored: strings are ASCII-escaped, and a number that is not finite (a metric that overflowed)
is ``null`` rather than a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ._analysis import analyse
from ._decode import MAX_BATCH_BYTES, MAX_BODY_BYTES, MAX_HEADER_BYTES, BadRequest, ascii_int, read_json
from ._faults import MAX_FAULTS, garbage_collector, parse_fault
from ._sessions import ServerRules, Session
from ._state import EmulatorState
from ._store import RateLimitedLog, StoreError, StoreUnavailable, log

TICK_SECONDS = 0.05  # how often timeouts and reorder windows are applied without traffic
UI_DIR = Path(__file__).resolve().parent / "ui"
UI_FILES = ("index.html", "ui.js", "ui.css")
UI_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
                               " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MAX_LIMIT = 100_000
# Lists answer the newest this many without ?limit=: the tables keep every request ever received,
# and one answer must stay bounded.
DEFAULT_LIMIT = 10_000


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no Infinity or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(child) for child in value]
    return value


class TextJSON(JSONResponse):
    """JSON that is always valid to send: ASCII escapes for every non-ASCII character (a lone
    surrogate stored before the decoding boundary existed stays an escape, not an encoding
    error), and non-finite numbers as null."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, allow_nan=False, separators=(",", ":"))
        except ValueError:
            text = json.dumps(_finite(content), allow_nan=False, separators=(",", ":"))
        return text.encode("ascii")


def _json(data: Any, status: int = 200) -> TextJSON:
    return TextJSON(data, status_code=status, headers={"Cache-Control": "no-store"})


def _message(message: str, status: int) -> TextJSON:
    return _json({"message": message}, status)


def _limit(request: Request) -> int:
    value = request.query_params.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    limit = ascii_int(value, 6)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


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
    tick_failed = RateLimitedLog()

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
        limit = _limit(request)
        await settle()
        chosen = sessions.all()[-limit:]
        sids = [s.sid for s in chosen]
        counts = store.counts(sids)
        firsts = store.first_bodies(sids)
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
        lines = (json.dumps(_finite(r["body"]), separators=(",", ":"), allow_nan=False) for r in processed(session))
        return Response("".join(line + "\n" for line in lines), media_type="application/x-ndjson", headers={
            "Content-Disposition": f'attachment; filename="session-{session.sid[:16]}.jsonl"'})

    async def list_requests(request: Request) -> Response:
        return _json(store.requests(_limit(request)))

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return _json({"faults": 0})
        fault = parse_fault(await read_json(request))
        if len(state.faults) >= MAX_FAULTS:
            raise BadRequest(f"fault: at most {MAX_FAULTS} rules may wait at once (DELETE /_emulator/faults)", 409)
        state.faults.append(fault)
        return _json({"faults": len(state.faults)}, 201)

    async def close_session(request: Request) -> Response:
        """Close a session as the server would after a timeout: its next event gets 410."""
        session = sessions.get(request.path_params["sid"])
        if session is None:
            return _message("no such session", 404)
        await store.write(sessions.close(session, "closed from /_emulator"))
        return _json({"closed": session.sid})

    async def reset(request: Request) -> Response:
        await store.reset_async()
        sessions.clear()
        state.faults.clear()
        return _json({"reset": True})

    async def config(request: Request) -> Response:
        return _json({**vars(rules), "expose_location": state.expose_location,
                      "forward": None if state.upstream is None else state.upstream.base_url,
                      "max_body_bytes": MAX_BODY_BYTES, "max_batch_bytes": MAX_BATCH_BYTES,
                      "max_header_bytes": MAX_HEADER_BYTES})

    async def stats(request: Request) -> Response:
        return _json({"answer_times": state.answer_times.reading(), "gc": garbage_collector(),
                      "store": {"writer_pid": store.writer_pid, "writer_restarts": store.writer_restarts,
                                "unavailable": store.unavailable}})

    async def ui_file(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in UI_FILES:
            return _message("no such file", 404)
        return FileResponse(UI_DIR / name, headers=UI_HEADERS)

    async def root(request: Request) -> Response:
        return RedirectResponse("/_emulator/ui/")

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return _message(exc.message, exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own refusals (no such route, wrong method) as JSON messages too."""
        assert isinstance(exc, HTTPException)
        return _message(str(exc.detail), exc.status_code)

    async def not_stored(request: Request, exc: Exception) -> Response:
        unavailable = isinstance(exc, StoreUnavailable)
        return _message(f"store {'unavailable' if unavailable else 'error'}: {exc}", 503 if unavailable else 500)

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
                except StoreError:  # a disk fault must not stop the timers for good
                    tick_failed("emulator: applying timeouts failed", exc_info=True)

        def stopped(done: asyncio.Task[None]) -> None:
            if not done.cancelled() and done.exception() is not None:  # a bug: say so at once
                log.error("emulator: the timeouts stopped", exc_info=done.exception())

        task = asyncio.ensure_future(tick())
        task.add_done_callback(stopped)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(StoreError):
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
    handlers = {BadRequest: bad_request, StoreError: not_stored, HTTPException: http_error}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)

