"""The retry decision and the backoff: small pure functions, checked as tables."""

from __future__ import annotations

import pytest

from mediacollect._retry import Verdict, backoff_delay, classify, retry_after_seconds


@pytest.mark.parametrize(
    ("status", "is_start", "verdict"),
    [
        (None, True, Verdict.RETRY), (None, False, Verdict.RETRY),
        (201, True, Verdict.DELIVERED), (204, False, Verdict.DELIVERED),
        (400, True, Verdict.REJECTED), (400, False, Verdict.REJECTED), (413, False, Verdict.REJECTED),
        (404, False, Verdict.SESSION_GONE), (410, False, Verdict.SESSION_GONE),
        (404, True, Verdict.REJECTED),  # a wrong endpoint, not a lost session
        (408, False, Verdict.RETRY), (429, False, Verdict.RETRY), (500, True, Verdict.RETRY),
        (503, False, Verdict.RETRY), (599, False, Verdict.RETRY),
    ],
)
def test_classify(status: int | None, is_start: bool, verdict: Verdict) -> None:
    assert classify(status, is_session_start=is_start) is verdict


@pytest.mark.parametrize(
    ("attempt", "rand", "delay"),
    [(0, 0.5, 0.5), (1, 0.5, 1.0), (2, 0.5, 2.0), (3, 1.0, 8.0), (5, 1.0, 30.0), (60, 0.5, 15.0), (4, 0.0, 0.0)],
)
def test_backoff_is_exponential_with_full_jitter_and_a_cap(attempt: int, rand: float, delay: float) -> None:
    assert backoff_delay(attempt, rand) == delay


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("7", 7.0), ("100000", 600.0), ("soon", None),
     ("Wed, 21 Oct 2015 07:28:05 GMT", 5.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0)],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    now_ms = 1445412480000  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds(value, now_ms) == seconds
