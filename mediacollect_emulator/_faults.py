"""Scripted faults (``POST /_emulator/faults``) and the answer-time statistics (``/_emulator/stats``).

A fault rule is checked strictly when it is posted, so that whatever it makes the emulator
answer is still valid HTTP: a status a server may send as a final answer (200-599), no body on
``204``/``205``/``304``, a ``Retry-After`` that is delta-seconds or an HTTP date (never a line
break: that would be header injection), bounded strings and counts, and an unknown or misspelt
field is a 400 instead of being ignored.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, fields
from email.utils import parsedate_to_datetime
from typing import Any

from ._decode import BadRequest

ENDPOINTS = ("sessions", "events", "downloaded")
BODYLESS = frozenset({204, 205, 304})  # statuses whose answer has no body (RFC 9110 §15)
MAX_FAULTS = 1000  # rules waiting at once
MAX_COUNT = 1_000_000
MAX_DELAY_MS = 60_000
MAX_MESSAGE_CHARS = 2000
_DELTA_SECONDS = re.compile(r"[0-9]{1,9}")
_HTTP_DATE = re.compile(r"[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT")


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


_FIELDS = tuple(f.name for f in fields(Fault))


def _integer(spec: dict[str, Any], name: str, low: int, high: int) -> None:
    value = spec.get(name)
    if name in spec and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise BadRequest(f"fault: {name} must be an integer from {low} to {high}")


def _string(spec: dict[str, Any], name: str, longest: int, nullable: bool = True) -> None:
    value = spec.get(name)
    if name in spec and not ((value is None and nullable) or (isinstance(value, str) and len(value) <= longest)):
        raise BadRequest(f"fault: {name} must be a string of at most {longest} characters"
                         + (" or null" if nullable else ""))


def parse_fault(spec: Any) -> Fault:
    """A fault rule from its JSON, or :class:`BadRequest` naming the first thing wrong with it."""
    if not isinstance(spec, dict):
        raise BadRequest("fault: body must be an object")
    unknown = sorted(set(spec) - set(_FIELDS))
    if unknown:
        raise BadRequest(f"fault: unknown field {unknown[0][:40]!r} (known: {', '.join(_FIELDS)})")
    if spec.get("status") is not None:
        _integer(spec, "status", 200, 599)
    _integer(spec, "count", 1, MAX_COUNT)
    _integer(spec, "delay_ms", 0, MAX_DELAY_MS)
    _string(spec, "event_type", 40)
    _string(spec, "message", MAX_MESSAGE_CHARS, nullable=False)
    _string(spec, "retry_after", 40)
    if spec.get("endpoint") is not None and spec["endpoint"] not in ENDPOINTS:
        raise BadRequest(f"fault: endpoint must be one of {', '.join(ENDPOINTS)} or null")
    if "drop" in spec and not isinstance(spec["drop"], bool):
        raise BadRequest("fault: drop must be true or false")
    retry_after = spec.get("retry_after")
    if retry_after is not None and not _DELTA_SECONDS.fullmatch(retry_after):
        if not _HTTP_DATE.fullmatch(retry_after):
            raise BadRequest("fault: retry_after must be delta-seconds (such as \"3\") or an HTTP date "
                             "(such as \"Wed, 21 Oct 2026 07:28:00 GMT\")")
        try:
            parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            raise BadRequest("fault: retry_after is not a valid HTTP date") from None
    return Fault(**spec)


class AnswerTimes:
    """How long the emulator takes to answer a collection API request, from the request read to
    the answer written (its commit included): a cumulative histogram in 0.1 ms steps up to 1 s,
    served at ``/_emulator/stats``. A reader compares two readings to see a window (the load
    benchmark does, to tell the server's latency from its load generator's)."""

    STEP_MS = 0.1
    LAST = 10_000  # the bucket of every answer that took 1 s or more

    def __init__(self) -> None:
        self.counts = [0] * (self.LAST + 1)

    def add(self, seconds: float) -> None:
        self.counts[min(int(seconds * 1000 / self.STEP_MS), self.LAST)] += 1

    def reading(self) -> dict[str, Any]:
        return {"step_ms": self.STEP_MS, "total": sum(self.counts),
                "counts": {str(i): n for i, n in enumerate(self.counts) if n}}


def garbage_collector() -> dict[str, Any]:
    """The cycle collector's passes so far and what they freed, for load tests: a pass stops
    every answer while it runs, and a request that leaves a reference cycle behind makes passes
    frequent and long (tests/emulator/test_fastpath.py)."""
    stats = gc.get_stats()
    return {"threshold": gc.get_threshold()[0], "collections": sum(gen["collections"] for gen in stats),
            "collected": sum(gen["collected"] for gen in stats)}
