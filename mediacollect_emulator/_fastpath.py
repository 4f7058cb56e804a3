"""The hot path on the wire: events answered without an ASGI task.

Nearly all traffic is ``POST /api/v1/sessions/{sid}/events``. Through uvicorn's ASGI machinery
each one costs a task, a scope, message dicts and header validation: about half of the emulator's
CPU under load (bench/emulator_load.py). This protocol (uvicorn's httptools protocol with three
parser callbacks extended) takes such a request when its connection is idle, judges it with the
very same code the ASGI path uses (``CollectionApi.event_now``), and writes the answer itself once
the store has committed the request.

Everything else goes the usual way: other endpoints and methods, a request pipelined behind one
still in flight (uvicorn queues it behind a stand-in cycle, so answers keep their order), bodies
without a Content-Length or over the size cap, ``Expect: 100-continue``, and every request while
a fault is scripted or forward mode is on.

The protocol also bounds every request's header lines (``MAX_HEADER_BYTES``) as they are parsed:
past the bound, no more are kept, and the request gets a ``431`` and the connection is closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._collection import CollectionApi, Reply
from ._decode import KEPT_HEADERS, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_KEPT_HEADER_CHARS

_PREFIX = b"/api/v1/sessions/"
_SUFFIX = b"/events"


class _NothingWaits:
    """``message_event`` of a fast request: uvicorn sets it when the connection goes away, and
    nobody waits on a fast request's body."""

    def set(self) -> None:
        """Nothing to wake."""


_NOTHING_WAITS = _NothingWaits()


class _InFlight:
    """Stands in for uvicorn's request cycle while a fast request waits for its commit: uvicorn
    queues whatever is pipelined behind it, and a shutdown can ask for the connection to close.

    It refers to nothing that refers back to it: a reference cycle per request would leave every
    one of them to the garbage collector, whose passes over ~20,000 of them stalled all answers
    for 20-40 ms every few seconds under load (bench/emulator_load.py)."""

    __slots__ = ("response_complete", "keep_alive", "disconnected")
    message_event = _NOTHING_WAITS

    def __init__(self, keep_alive: bool) -> None:
        self.response_complete = False
        self.keep_alive = keep_alive
        self.disconnected = False


def fast_protocol(api: CollectionApi) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, answering idle-connection event posts through ``api``."""

    class CollectionProtocol(HttpToolsProtocol):
        _fast: tuple[str, str, dict[str, str], bytearray, float, bool] | None = None
        _header_bytes = 0
        _refused = False  # headers over the bound: answered 431, everything after it ignored

        def on_url(self, url: bytes) -> None:
            if self._refused:
                return
            self._header_bytes += len(url)
            if self._header_bytes <= MAX_HEADER_BYTES:
                self.url += url  # uvicorn's on_url

        def on_header(self, name: bytes, value: bytes) -> None:
            # uvicorn's own on_header, inlined (it runs for every header of every request).
            self._header_bytes += len(name) + len(value) + 4
            if self._header_bytes <= MAX_HEADER_BYTES and not self._refused:
                name = name.lower()
                if name == b"expect" and value.lower() == b"100-continue":
                    self.expect_100_continue = True
                self.headers.append((name, value))

        def _fast_request(self) -> tuple[str, str, dict[str, str], bytearray, float, bool] | None:
            if self.cycle is not None and not self.cycle.response_complete:
                return None  # something is in flight on this connection: keep the order
            if self.parser.get_method() != b"POST" or self.expect_100_continue or not api.fast_path_open:
                return None
            url: bytes = self.url
            if not (url.startswith(_PREFIX) and url.endswith(_SUFFIX)) or b"?" in url or b"%" in url:
                return None
            sid = url[len(_PREFIX):-len(_SUFFIX)]
            if not sid or b"/" in sid:
                return None
            headers: dict[str, str] = {}
            for name, value in self.headers:
                if name in KEPT_HEADERS:
                    headers[KEPT_HEADERS[name]] = value[:MAX_KEPT_HEADER_CHARS].decode("latin-1")
            length = headers.get("content-length", "")
            if headers.get("content-type") != "application/json" or not (length.isascii() and length.isdigit()) \
                    or len(length) > 6 or int(length) > MAX_BODY_BYTES:
                return None
            keep_alive = self.parser.get_http_version() == "1.1" and self.parser.should_keep_alive()
            return url.decode("ascii"), sid.decode("ascii")[:200], headers, bytearray(), time.perf_counter(), \
                keep_alive

        def on_headers_complete(self) -> None:
            if self._refused:
                return
            header_bytes, self._header_bytes = self._header_bytes, 0  # the next request counts afresh
            if header_bytes > MAX_HEADER_BYTES:
                self._refused = True
                self.transport.write(api.wire_response(Reply(431, f"request: headers larger than {MAX_HEADER_BYTES} "
                                                                  "bytes"), close=True))
                self.transport.close()
                return
            self._fast = self._fast_request()
            if self._fast is None:
                super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if self._refused:
                return
            if self._fast is None:
                super().on_body(body)
            else:
                self._fast[3].extend(body)

        def on_message_complete(self) -> None:
            if self._refused:
                return
            if self._fast is None:
                super().on_message_complete()
                return
            path, sid, headers, raw, started, keep_alive = self._fast
            self._fast = None
            in_flight = _InFlight(keep_alive)
            self.cycle = in_flight  # type: ignore[assignment]
            reply, ops, facts = api.event_now(path, sid, headers, bytes(raw))
            api.store.write_future(ops).add_done_callback(
                lambda done: self._answer(done, in_flight, reply, facts, path, started))

        def _answer(self, done: asyncio.Future[None], in_flight: _InFlight, reply: Reply, facts: dict[str, Any],
                    path: str, started: float) -> None:
            if done.cancelled() or done.exception() is not None:
                reply = api.not_stored(reply, facts, None if done.cancelled() else done.exception())
            in_flight.response_complete = True
            if self.transport.is_closing():
                return
            close = not in_flight.keep_alive
            self.transport.write(api.wire_response(reply, close=close))
            api.log_request("POST", path, facts, reply, started)
            if close:
                self.transport.close()
            else:
                self.on_response_complete()

    return CollectionProtocol
