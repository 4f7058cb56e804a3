"""The driver over real HTTP: CPython's urllib against a running emulator, real clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from mediacollect import Driver, MediaConfig, Observation, Outbox, PlayerEvent, Report, Tracker
from mediacollect.transport import UrllibTransport
from tests.core.harness import CONFIG
from tests.helpers import Emulator, run_async

P = PlayerEvent


def now_ms() -> int:
    return int(time.time() * 1000)


def make_driver(emulator: Emulator, reports: list[Report]) -> Driver:
    config = replace(CONFIG, endpoint=emulator.endpoint, content_ping_interval=1.0)
    tracker = Tracker(config, MediaConfig(id="driver-test", length=120.0))
    return Driver(tracker, Outbox(config.api_base, rand=lambda: 0.2), UrllibTransport(), now_ms, timeout=5,
                  on_report=lambda report, request: reports.append(report))


def start_playing(driver: Driver) -> None:
    """The driver running, a play pressed and its first frame 5 ms later."""
    driver.start()
    driver.observe(Observation(P.PLAY, now_ms(), 0.0))
    driver.observe(Observation(P.PLAYING, now_ms() + 5, 0.0))


async def until(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def test_a_viewing_reaches_the_emulator_in_order_with_pings(fresh: Emulator) -> None:
    reports: list[Report] = []

    async def scenario() -> None:
        driver = make_driver(fresh, reports)
        started = now_ms()
        start_playing(driver)
        driver.call(driver.tracker.start_state, "mute")
        # The viewer watches until the second 1 s ping has been delivered, then pauses.
        await until(lambda: [r.event_type for r in reports if r.kind == "sent"].count("ping") == 2)
        playhead = (now_ms() - started) / 1000
        driver.observe(Observation(P.PAUSE, now_ms(), playhead, paused=True))
        driver.observe(Observation(P.TEARDOWN, now_ms(), playhead, paused=True))
        await until(lambda: len(driver.outbox) == 0 and not driver.outbox.busy)
        await driver.stop()

    run_async(scenario)
    [session] = fresh.sessions()
    kinds = [e["event_type"] for e in session["events"]]
    assert kinds == ["sessionStart", "play", "stateStart", "ping", "ping", "pauseStart", "sessionEnd"]
    ts = [e["body"]["playerTime"]["ts"] for e in session["events"]]
    assert ts == sorted(ts)
    assert session["closed"] is True
    assert [r.kind for r in reports] == ["session"] + ["sent"] * 6


def test_retries_and_renewal_against_the_emulator(fresh: Emulator) -> None:
    fresh.post("/_emulator/faults", {"drop": True, "count": 1, "endpoint": "sessions"})
    fresh.post("/_emulator/faults", {"status": 503, "count": 1, "endpoint": "events", "retry_after": "1"})
    fresh.post("/_emulator/faults", {"status": 410, "count": 1, "event_type": "pauseStart"})
    reports: list[Report] = []

    async def scenario() -> None:
        driver = make_driver(fresh, reports)
        start_playing(driver)
        await until(lambda: any(r.kind == "sent" for r in reports))
        driver.observe(Observation(P.PAUSE, now_ms(), 1.5, paused=True))
        await until(lambda: sum(r.kind == "session" for r in reports) == 2 and len(driver.outbox) == 0)
        await driver.stop()

    run_async(scenario)
    first, second = fresh.sessions()
    assert [e["event_type"] for e in first["events"]][:2] == ["sessionStart", "play"]
    renewed = second["events"]
    assert renewed[0]["body"]["params"]["media.resume"] is True
    assert [e["event_type"] for e in renewed][:2] == ["sessionStart", "pauseStart"]
    dropped, retry = [r for r in reports if r.kind == "retry"][:2]
    assert dropped.status is None and dropped.event_type == "sessionStart" and "IncompleteRead" in dropped.message
    assert retry.status == 503 and retry.retry_in_ms == 1000
    assert any(r.kind == "session-gone" and r.status == 410 for r in reports)


def test_a_server_that_keeps_losing_sessions_gets_renewals_that_back_off() -> None:
    """404/410 on every event: each renewal comes later than the last, never a loop."""
    from mediacollect.transport import HttpRequest, HttpResponse, MemoryTransport

    clock = [1_700_000_000_000]

    def server(request: HttpRequest) -> HttpResponse:
        if request.url.endswith("/sessions"):
            return HttpResponse(201, {"location": f"/api/v1/sessions/s{len(transport.requests)}"})
        return HttpResponse(410, {}, b'{"message": "gone"}')

    transport = MemoryTransport(server)
    reports: list[Report] = []
    config = replace(CONFIG, endpoint="http://127.0.0.1:9")
    driver = Driver(Tracker(config, MediaConfig(id="x", length=60.0)), Outbox(config.api_base), transport,
                    lambda: clock[0], on_report=lambda report, request: reports.append(report))

    async def scenario() -> list[int | None]:
        driver.observe(Observation(P.PLAY, clock[0], 0.0))
        driver.observe(Observation(P.PLAYING, clock[0] + 5, 0.0))
        driver.call(driver.tracker.update_qoe, bitrate=900_000)  # a bitrateChange, re-issued once lost
        waits = []
        for _ in range(4):
            await driver.flush()
            deadline = driver.outbox.next_deadline
            waits.append(None if deadline is None else deadline - clock[0])
            clock[0] = deadline or clock[0]
        return waits

    holder: list[list[int | None]] = []

    async def run() -> None:
        holder.append(await scenario())

    run_async(run)
    assert holder[0] == [1000, 2000, 4000, 8000]
    starts = [r for r in reports if r.kind == "session"]
    assert len(starts) == 5
    waiting = [(item["type"], item["session"]) for item in driver.outbox.undelivered()["items"]]
    assert ("bitrateChange", driver.tracker.session) in waiting, "re-issued on each renewal, never dropped"


def test_a_suspended_driver_sends_nothing_until_resumed() -> None:
    from mediacollect.transport import HttpRequest, HttpResponse, MemoryTransport

    transport = MemoryTransport(lambda request: HttpResponse(201, {"location": "/api/v1/sessions/a"}))
    config = replace(CONFIG, endpoint="http://127.0.0.1:9")
    driver = Driver(Tracker(config, MediaConfig(id="x", length=60.0)), Outbox(config.api_base), transport, now_ms)

    async def scenario() -> None:
        driver.suspend()
        driver.observe(Observation(P.PLAY, now_ms(), 0.0))
        await driver.flush()
        assert transport.requests == [] and len(driver.outbox) == 1
        driver.resume()
        await driver.flush()
        assert [r.url for r in transport.requests] == ["http://127.0.0.1:9/api/v1/sessions"]
        assert isinstance(transport.requests[0], HttpRequest)

    run_async(scenario)


def test_flush_waits_for_the_answer_in_flight_then_sends_the_rest() -> None:
    """``untrack`` flushes then stops: a request the loop already sent must be answered (and its
    answer read) before the stop, and what was queued behind it sent, not left stored."""
    from mediacollect.transport import HttpRequest, HttpResponse, MemoryTransport

    first_answer: list[asyncio.Future[HttpResponse]] = []

    async def server(request: HttpRequest) -> HttpResponse:
        if request.url.endswith("/sessions"):
            first_answer.append(asyncio.get_running_loop().create_future())
            return await first_answer[0]
        return HttpResponse(204, {})

    transport = MemoryTransport(server)
    config = replace(CONFIG, endpoint="http://127.0.0.1:9")
    driver = Driver(Tracker(config, MediaConfig(id="x", length=60.0)), Outbox(config.api_base), transport, now_ms)

    async def scenario() -> None:
        driver.start()
        driver.observe(Observation(P.PLAY, now_ms(), 0.0))
        await until(lambda: len(transport.requests) == 1)  # the sessionStart, waiting for its 201
        driver.call(driver.tracker.end_session)
        flushing = asyncio.ensure_future(driver.flush())
        for _ in range(20):  # every chance to finish early: loop turns, no clock involved
            await asyncio.sleep(0)
        assert not flushing.done(), "flush waits for the answer in flight"
        first_answer[0].set_result(HttpResponse(201, {"location": "/api/v1/sessions/s1"}))
        await asyncio.wait_for(flushing, 5)
        await driver.stop()

    run_async(scenario)
    assert [r.url.rsplit("/", 1)[-1] for r in transport.requests] == ["sessions", "events"]
    assert len(driver.outbox) == 0 and not driver.outbox.busy
