"""HTTP requests and responses as plain values: what the outbox hands out and takes back.

Sans-I/O: nothing here sends anything. ``transport`` (CPython) and ``browser`` (Pyodide) turn an
``HttpRequest`` into an ``HttpResponse``; the outbox decides which request goes next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field

from ._lazy import lazy_dataclass


@lazy_dataclass
class HttpRequest:
    method: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@lazy_dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def lower_headers(pairs: Mapping[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return {str(name).lower(): str(value) for name, value in items}
