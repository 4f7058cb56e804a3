"""How requests leave the tracker: a small seam with one CPython implementation.

The browser implementation (the shim's fetch) lives in ``mediacollect.browser``, the one module that
touches ``js``/``pyodide``. Tests use ``MemoryTransport`` (a function from request to response,
like httpx's MockTransport) or ``UrllibTransport`` against a real emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import field
from typing import Protocol

from ._record import record


@record
class HttpRequest:
    method: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@record
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class TransportError(Exception):
    """No HTTP answer: the network failed, the request timed out, CORS refused it."""


class Transport(Protocol):
    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse: ...


def lower_headers(pairs: Mapping[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return {str(name).lower(): str(value) for name, value in items}


class UrllibTransport:
    """CPython's urllib, run in a thread so the event loop keeps ticking."""

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        return await asyncio.to_thread(self._send, request, timeout)

    @staticmethod
    def _send(request: HttpRequest, timeout: float) -> HttpResponse:
        # Imported here: urllib.request pulls in http.client, email and ssl, which would cost the
        # browser page ~0.45 s of start-up for a transport it never uses.
        import http.client
        import urllib.error
        import urllib.request

        req = urllib.request.Request(
            request.url, data=request.body, method=request.method, headers=dict(request.headers)
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return HttpResponse(resp.status, lower_headers(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return HttpResponse(err.code, lower_headers(err.headers.items()), err.read())
        except (OSError, urllib.error.URLError, http.client.HTTPException) as err:  # incl. a cut-off answer
            raise TransportError(f"{type(err).__name__}: {err}") from err


class MemoryTransport:
    """Answers from a function; records every request it was given."""

    def __init__(self, handler: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]) -> None:
        self._handler = handler
        self.requests: list[HttpRequest] = []

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        self.requests.append(request)
        result = self._handler(request)
        if isinstance(result, HttpResponse):
            return result
        return await result
