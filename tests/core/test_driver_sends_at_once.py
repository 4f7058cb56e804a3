"""The driver sends inside the caller's turn: a play's sessionStart leaves before ``observe``
returns, so the rest of that play's work (a pre-roll, the page updates) does not delay it.

These tests use no threads and no sockets, so they run in Pyodide too (``test_in_pyodide``),
where the page's Python (3.14) has the eager tasks this needs. CPython 3.11 has none: there the
driver sends on the loop's next turn, and the tests that need eager tasks are skipped.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import pytest

from mediacollect import Driver, MediaConfig, Observation, Outbox, PlayerEvent, Report, Tracker
from mediacollect._driver import EAGER_TASKS
from mediacollect.transport import HttpRequest, HttpResponse, MemoryTransport, TransportError
from tests.core.harness import CONFIG

P = PlayerEvent
T = TypeVar("T")
SESSIONS = "http://127.0.0.1:9/api/v1/sessions"
EVENTS = "http://127.0.0.1:9/api/v1/sessions/s1/events"
needs_eager_tasks = pytest.mark.skipif(not EAGER_TASKS, reason="eager tasks need Python 3.12+ (Pyodide runs these)")


def in_running_loop(body: Callable[[], T]) -> T:
    """Run a synchronous test body while an event loop runs, as the page's handlers do: Pyodide's
    loop always runs; CPython's needs ``asyncio.run`` (in a thread of its own, because the
    browser tests' Playwright may hold the main thread's loop)."""
    if sys.platform == "emscripten":
        return body()

    async def wrapper() -> T:
        return body()

    from tests.helpers import run_async  # threads: not imported in Pyodide

    return run_async(wrapper)


def now_ms() -> int:
    return int(time.time() * 1000)


def api(request: HttpRequest) -> HttpResponse:
    if request.url == SESSIONS:
        return HttpResponse(201, {"location": "/api/v1/sessions/s1"})
    return HttpResponse(204, {})


def make_driver(transport: MemoryTransport, reports: list[Report] | None = None) -> Driver:
    config = replace(CONFIG, endpoint="http://127.0.0.1:9")
    sink = None if reports is None else (lambda report, request: reports.append(report))
    return Driver(Tracker(config, MediaConfig(id="x", length=60.0)), Outbox(config.api_base, rand=lambda: 0.2),
                  transport, now_ms, on_report=sink)


@needs_eager_tasks
def test_a_play_is_delivered_before_observe_returns() -> None:
    transport = MemoryTransport(api)
    reports: list[Report] = []
    driver = make_driver(transport, reports)

    def body() -> None:
        loop_task = driver.start()
        driver.observe(Observation(P.PLAY, now_ms(), 0.0))
        # A transport that answers at once has delivered the sessionStart right here.
        assert [r.url for r in transport.requests] == [SESSIONS]
        assert [r.kind for r in reports] == ["session"]
        driver.observe(Observation(P.PLAYING, now_ms() + 5, 0.0))
        assert [r.url for r in transport.requests] == [SESSIONS, EVENTS]
        assert [r.kind for r in reports] == ["session", "sent"]
        assert len(driver.outbox) == 0 and not driver.outbox.busy
        loop_task.cancel()

    in_running_loop(body)


@needs_eager_tasks
def test_an_asynchronous_transport_has_the_request_out_before_observe_returns() -> None:
    answers: list[asyncio.Future[HttpResponse]] = []

    def slow_api(request: HttpRequest) -> asyncio.Future[HttpResponse]:
        answers.append(asyncio.get_running_loop().create_future())
        return answers[-1]

    transport = MemoryTransport(slow_api)
    driver = make_driver(transport)

    def body() -> None:
        loop_task = driver.start()
        driver.observe(Observation(P.PLAY, now_ms(), 0.0))
        assert [r.url for r in transport.requests] == [SESSIONS]
        assert driver.outbox.busy
        # One request at a time, in order: what comes meanwhile waits behind the one in flight.
        driver.observe(Observation(P.PLAYING, now_ms() + 5, 0.0))
        driver.call(driver.tracker.start_state, "mute")
        assert [r.url for r in transport.requests] == [SESSIONS]
        assert len(driver.outbox) == 3
        loop_task.cancel()

    in_running_loop(body)


@needs_eager_tasks
def test_a_failed_send_is_left_to_the_loop_with_its_backoff() -> None:
    def unreachable(request: HttpRequest) -> HttpResponse:
        raise TransportError("NetworkError: offline")

    transport = MemoryTransport(unreachable)
    reports: list[Report] = []
    driver = make_driver(transport, reports)

    def body() -> None:
        loop_task = driver.start()
        before = now_ms()
        driver.observe(Observation(P.PLAY, before, 0.0))
        assert [r.kind for r in reports] == ["retry"] and len(transport.requests) == 1
        # Not retried in a loop from here: the head waits out its backoff (0.2 × 1 s).
        deadline = driver.outbox.next_deadline
        assert deadline is not None and deadline - before >= 200
        loop_task.cancel()

    in_running_loop(body)


def test_nothing_is_sent_from_observe_by_a_driver_that_is_not_running_or_is_suspended() -> None:
    transport = MemoryTransport(api)
    idle = make_driver(transport)
    suspended = make_driver(transport)

    def body() -> None:
        idle.observe(Observation(P.PLAY, now_ms(), 0.0))
        loop_task = suspended.start()
        suspended.suspend()
        suspended.observe(Observation(P.PLAY, now_ms(), 0.0))
        assert transport.requests == []
        assert len(idle.outbox) == 1 and len(suspended.outbox) == 1
        loop_task.cancel()

    in_running_loop(body)
