"""A gate in front of the emulator's site: a reverse proxy on its own loopback port that passes
every request through, except those for the files it was told to hold, which wait until the
test opens the gate.

Holding ``/main.py`` (the page's Python) keeps Python from being ready for as long as the test
wants, in every engine alike, whatever the machine's speed: "the viewer pressed play before
Python was ready" is then a condition the test makes, not one it hopes for. WebDriver classic
and Marionette cannot intercept requests (Playwright can, in Chromium only), so the gate sits
on the wire. The page's origin is the gate's; the collection API accepts every origin.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.helpers import Emulator

HOLD_TIMEOUT = 120.0  # a held request is let through at last: a test that fails never hangs its browser
# Per connection, never forwarded (RFC 9110 §7.6.1); the body is re-sent with its length.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade"})


class Gate:
    def __init__(self, emulator: Emulator, hold: tuple[str, ...]) -> None:
        self.upstream = ("127.0.0.1", emulator.site_port)
        self.emulator = emulator
        self.hold = hold
        self.open = threading.Event()
        self.lock = threading.Lock()
        self.held: list[str] = []  # the held paths requested so far, in order
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def page_url(self, path: str) -> str:
        """A page through the gate, sending to the emulator's API."""
        url = urlsplit(self.emulator.page_url(path))
        return f"{self.origin}{url.path}?{url.query}"

    def requested(self) -> list[str]:
        with self.lock:
            return list(self.held)

    def release(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.open.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def _forward(self) -> None:
                path = urlsplit(self.path).path
                if path in gate.hold:
                    with gate.lock:
                        gate.held.append(path)
                    gate.open.wait(HOLD_TIMEOUT)
                upstream = http.client.HTTPConnection(*gate.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    headers["Host"] = f"{gate.upstream[0]}:{gate.upstream[1]}"
                    upstream.request(self.command, self.path, headers=headers)
                    answer = upstream.getresponse()
                    body = answer.read()
                finally:
                    upstream.close()
                self.send_response_only(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = answer.getheader("Content-Length") if self.command == "HEAD" else str(len(body))
                if answer.status not in (204, 304) and length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD" and answer.status not in (204, 304):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the emulator's log has every request already

        return Handler


@contextmanager
def gate(emulator: Emulator, *hold: str) -> Iterator[Gate]:
    running = Gate(emulator, hold)
    try:
        yield running
    finally:
        running.close()
