"""The one boundary every request crosses before anything else sees it: bytes in, valid text out.

A request becomes a JSON document of valid Unicode text, or a :class:`BadRequest` (a 4xx whose
message names the field). Everything past this module (validation, the store, the inspection
API's JSON) can rely on that:

* the body is UTF-8, nested at most :data:`MAX_JSON_DEPTH` levels, without ``NaN``/``Infinity``,
  integers of more than 19 digits or numbers that overflow a double;
* no string and no key holds a lone surrogate: JSON can spell one (``"\\ud800"``), Python decodes
  it, but it is not text (UTF-8 cannot encode it, so SQLite and every JSON answer would fail);
* sizes are bounded: the body (64 KiB, 4 MiB for an offline batch), the request's headers
  (:data:`MAX_HEADER_BYTES`, else ``431``), and what a request row keeps of them;
* numbers in query strings and headers are ASCII digits (``str.isdigit`` also takes ``"²"`` and
  ``"١"``, which ``int`` then refuses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

MAX_BODY_BYTES = 64 * 1024  # one event; Adobe documents no limit (spec §4.16), ours is generous
MAX_BATCH_BYTES = 4 * 1024 * 1024  # an offline session: hours of pings
MAX_BATCH_EVENTS = 20_000
MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 19  # ts is an int64; nothing in a body needs a longer integer
# All of a request's header lines together. Browsers send a few hundred bytes to an API (cookies
# of other local apps on the same host can add kilobytes); nginx's default buffers hold 32 KiB.
MAX_HEADER_BYTES = 32 * 1024
MAX_KEPT_HEADER_CHARS = 512  # of each header a request row keeps
KEPT_HEADERS = {b"content-type": "content-type", b"origin": "origin", b"user-agent": "user-agent",
                b"content-length": "content-length"}  # what a request row keeps
_HEADER_JSON_ENTRIES = 1024

# Only an escape can put a surrogate into decoded JSON (UTF-8 input cannot carry one), so a body
# without one needs no walk. A false hit (an escaped backslash before "ud8..") costs a walk only.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_ASCII_DIGITS = re.compile(r"[0-9]+")


class BadRequest(Exception):
    """Bad input: answered with ``status`` and ``{"message": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def ascii_int(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits, else None."""
    if len(text) > max_digits or not _ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)


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


def is_text(value: str) -> bool:
    """Valid Unicode text: no lone surrogate (the only thing a Python str holds that UTF-8 cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def field_name(path: Iterable[str | int]) -> str:
    """A JSON path for a message, itself valid text (ASCII escapes for what is not), at most 120 chars."""
    name = ""
    for step in path:
        if isinstance(step, int):
            name += f"[{step}]"
        else:
            name += ("." if name else "") + json.dumps(step)[1:-1]
    return (name or "body")[:120]


def _lone_surrogate(value: Any) -> str | None:
    """The path of the first string or key holding a lone surrogate, or None."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not is_text(item):
                return field_name(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not is_text(key):
                    return field_name((*path, key)) + " (the key)"
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
    return None


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)


def decode_json(raw: bytes) -> Any:
    """A request body as JSON of valid text, or :class:`BadRequest` naming what is wrong."""
    try:
        body = _DECODER.decode(raw.decode("utf-8"))
    except BadRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadRequest(f"request: body is not valid JSON ({type(err).__name__})") from None
    # Counting brackets is far cheaper than walking the document, and bounds the depth.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequest(f"request: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(raw):
        where = _lone_surrogate(body)
        if where is not None:
            raise BadRequest(f"request: {where} is not valid Unicode text (a lone surrogate escape such as "
                             "\\ud800; a character outside the Basic Multilingual Plane is a pair of them)")
    return body


def check_content_type(content_type: str) -> None:
    if content_type != "application/json" and content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest("request: Content-Type must be application/json")


def header_bytes(headers: Iterable[tuple[bytes, bytes]]) -> int:
    return sum(len(name) + len(value) + 4 for name, value in headers)


def kept_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers a request row keeps, each cut to :data:`MAX_KEPT_HEADER_CHARS`."""
    headers = {}
    for name, value in raw_headers:
        if name in KEPT_HEADERS:
            headers[KEPT_HEADERS[name]] = value[:MAX_KEPT_HEADER_CHARS].decode("latin-1")
    return headers


def check_headers(raw_headers: list[tuple[bytes, bytes]]) -> None:
    if header_bytes(raw_headers) > MAX_HEADER_BYTES:
        raise BadRequest(f"request: headers larger than {MAX_HEADER_BYTES} bytes", 431)


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The JSON body of a Starlette request (the inspection and control endpoints)."""
    check_content_type(request.headers.get("content-type", ""))
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise BadRequest(f"request: body larger than {limit} bytes", 413)
    return decode_json(raw)


_HEADER_JSON: dict[tuple[tuple[str, str], ...], str] = {}


def headers_json(headers: dict[str, str] | None) -> str:
    """A request row's headers as JSON; a client sends the same ones every time, so the text is
    kept, in a bounded cache (Content-Length is left out: the body is stored)."""
    key = tuple(item for item in (headers or {}).items() if item[0] != "content-length")
    text = _HEADER_JSON.get(key)
    if text is None:
        if len(_HEADER_JSON) >= _HEADER_JSON_ENTRIES:
            _HEADER_JSON.clear()
        text = _HEADER_JSON[key] = json.dumps(dict(key))
    return text
