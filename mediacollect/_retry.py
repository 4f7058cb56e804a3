"""The retry decision and the backoff, as small pure functions (spec §1.5, §1.6, §4.17).

The random value of the backoff is a parameter so tests can make every delay exact.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: network error, timeout, 408, 429, 5xx
    REJECTED = "rejected"  # permanent for this body: resending it unchanged is useless (400...)
    SESSION_GONE = "session-gone"  # 404/410 on an event: the session must be renewed


BASE_DELAY = 1.0  # seconds; spec §4.17 suggests 1 s, 2 s, 4 s ... capped near 30 s
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 600.0  # seconds: a longer Retry-After is taken as 10 min (the events would be too old)


def classify(status: int | None, *, is_session_start: bool) -> Verdict:
    """What to do after one attempt. ``status`` None means no HTTP answer (network, timeout)."""
    if status is None or status in (408, 425, 429) or 500 <= status <= 599:
        return Verdict.RETRY
    if 200 <= status <= 299:
        return Verdict.DELIVERED
    if status in (404, 410) and not is_session_start:
        return Verdict.SESSION_GONE
    return Verdict.REJECTED


def backoff_ceiling(attempt: int, *, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """The exponential backoff without jitter: ``min(cap, base * 2**attempt)`` seconds
    (``attempt`` counts failures so far, 0 after the first)."""
    return float(min(cap, base * 2.0 ** min(attempt, 30)))


def backoff_delay(attempt: int, rand: float, *, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Exponential backoff with full jitter: a uniform pick in [0, backoff_ceiling(attempt)).

    ``attempt`` counts failures so far (0 after the first); ``rand`` is in [0, 1).
    """
    return float(rand * backoff_ceiling(attempt, base=base, cap=cap))


def retry_after_seconds(value: str | None, now_ms: int) -> float | None:
    """A ``Retry-After`` header (delta-seconds or HTTP-date) as seconds from now, capped at MAX_RETRY_AFTER."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    from email.utils import parsedate_to_datetime  # rare path; email is slow to import in Pyodide

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - now_ms / 1000.0), MAX_RETRY_AFTER)
