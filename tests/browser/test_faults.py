"""Delivery under everyday faults, in the real page against the real emulator.

Each scenario checks what the emulator accepted: every viewer action produced exactly one
accepted event, in order, with no duplicates (pings aside: their cadence is tested elsewhere).
"""

from __future__ import annotations

import time

from playwright.sync_api import BrowserContext, Page

from mediacollect._state import SEEK_SETTLE_MS
from tests.browser.conftest import (
    accepted,
    assert_no_duplicates,
    press_play,
    start,
    video,
    wait_ready,
    watch,
    with_settings,
)
from tests.helpers import BASIC_PAGE, Emulator, holds, wait_for

LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push({start: e.startTime, duration: e.duration});
}).observe({type: "longtask", buffered: true});
"""


def state_is(page: Page, state: str) -> None:
    """Wait until Python has taken the viewer's action in: the page's panel shows its state."""
    page.wait_for_function("s => document.getElementById('playback-state').textContent === s", arg=state)


def seek_and_settle(page: Page, seconds: float) -> None:
    """Seek, wait for the element's ``seeked``, then let the tracker's settle window pass: a pause
    sooner would be part of the seek (a scrub storm is one pause/play pair). The window is counted
    on the events' own times, so a worker busy in a slow request does not stretch it."""
    page.evaluate("""(t) => new Promise((done) => {
        const v = document.getElementById('video');
        v.addEventListener('seeked', done, {once: true});
        v.currentTime = t;
    })""", seconds)
    watch(page, SEEK_SETTLE_MS / 1000 + 0.2, why="the seek's settle window, then a margin")


def pause_and_play_through_503s(page: Page, emulator: Emulator, count: int) -> None:
    """A session open, then the next ``count`` events answered 503 while the viewer pauses and plays."""
    start(page, emulator)
    emulator.post("/_emulator/faults", {"status": 503, "count": count, "endpoint": "events"})
    video(page, "v.pause()")
    state_is(page, "paused")
    video(page, "v.play()")


def test_a_burst_of_503s_loses_nothing(page: Page, fresh: Emulator) -> None:
    pause_and_play_through_503s(page, fresh, 5)
    wait_for(lambda: accepted(fresh)[0][3:] == ["pauseStart", "play"], timeout=60)
    assert len([r for r in fresh.get("/_emulator/requests") if r["status"] == 503]) == 5
    page.wait_for_selector('#request-log .request[data-status="503"]')
    assert_no_duplicates(fresh)


def test_offline_for_30_s_then_everything_arrives(context: BrowserContext, fresh: Emulator) -> None:
    page = context.new_page()
    page.set_default_timeout(60_000)
    start(page, fresh)
    context.set_offline(True)
    video(page, "v.pause()")
    state_is(page, "paused")
    video(page, "v.play()")
    page.wait_for_selector('#request-log .request[data-status="network"]')
    # The scenario is 30 s offline (retries backing off towards their cap), not a condition.
    holds(lambda: accepted(fresh) == [["sessionStart", "stateStart:mute", "play"]], 29,
          why="offline for 30 s: nothing can arrive meanwhile")
    back = time.monotonic()
    context.set_offline(False)
    # The 30 s clip may have ended while offline (a slow run): its sessionComplete then follows.
    wait_for(lambda: accepted(fresh)[0][3:5] == ["pauseStart", "play"], timeout=20)
    assert time.monotonic() - back < 10, "the network coming back must be noticed, not waited out"
    assert_no_duplicates(fresh)


def test_a_slow_api_never_blocks_the_page(context: BrowserContext, fresh: Emulator) -> None:
    context.add_init_script(LONG_TASKS)
    page = context.new_page()
    start(page, fresh)
    ready_at = page.evaluate("performance.now()")
    # Each request takes 1 s: a page that waited for one would freeze twice as long as the
    # answer below may take, and show a long task twenty times the threshold.
    fresh.post("/_emulator/faults", {"delay_ms": 1000, "count": 10})
    # Each action taken in by Python before the next.
    video(page, "v.pause()")
    state_is(page, "paused")
    video(page, "v.play()")
    state_is(page, "playing")
    seek_and_settle(page, 2)
    video(page, "v.pause()")
    state_is(page, "paused")
    video(page, "v.play()")
    state_is(page, "playing")
    # The page answers at once while requests take 1 s each.
    started = time.monotonic()
    assert video(page, "v.paused") is False
    assert time.monotonic() - started < 0.5
    expected = ["pauseStart", "play", "pauseStart", "play", "pauseStart", "play"]
    wait_for(lambda: accepted(fresh)[0][3:9] == expected, timeout=60)
    late_tasks = [t for t in page.evaluate("window.__longTasks") if t["start"] > ready_at]
    assert late_tasks == [], "tracking must not put long tasks on the main thread"
    assert_no_duplicates(fresh)


def test_a_session_closed_by_the_server_is_resumed(page: Page, fresh: Emulator) -> None:
    start(page, fresh)
    [first] = fresh.get("/_emulator/sessions")
    fresh.post(f"/_emulator/sessions/{first['sid']}/close")
    video(page, "v.pause()")
    wait_for(lambda: len(accepted(fresh)) == 2 and accepted(fresh)[1][-1] == "pauseStart")
    video(page, "v.play()")
    wait_for(lambda: accepted(fresh)[1][-1] == "play")
    assert accepted(fresh) == [["sessionStart", "stateStart:mute", "play"],
                               ["sessionStart", "stateStart:mute", "pauseStart", "play"]]
    resumed = fresh.sessions()[1]["events"][0]["body"]
    assert resumed["params"]["media.resume"] is True
    page.wait_for_selector('#request-log .request[data-event-type="pauseStart"][data-status="410"]')
    page.wait_for_function(f"document.getElementById('session-id').textContent === {fresh.sessions()[1]['sid']!r}")
    assert_no_duplicates(fresh)


def test_a_400_for_one_event_is_reported_and_the_rest_delivered(page: Page, fresh: Emulator) -> None:
    start(page, fresh)
    message = "pauseStart: refused by this test"
    fresh.post("/_emulator/faults", {"status": 400, "event_type": "pauseStart", "message": message})
    video(page, "v.pause()")
    state_is(page, "paused")
    video(page, "v.play()")
    wait_for(lambda: accepted(fresh)[0][3:] == ["play"])
    error = page.wait_for_selector("#tracker-error:not([hidden])")
    assert message in (error.text_content() or "")
    assert_no_duplicates(fresh)


# What a consent manager does before the tracker starts: the page's settings say "pending".
PENDING_CONSENT = with_settings(consent="pending")


def test_nothing_before_consent_then_in_order_and_nothing_after_opt_out(context: BrowserContext,
                                                                         fresh: Emulator) -> None:
    context.add_init_script(PENDING_CONSENT)
    page = context.new_page()
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    pressed = press_play(page)
    # Python has the play: its sessionStart, stateStart (muted) and play wait in the queue, unsent.
    page.wait_for_function("document.getElementById('queue-length').textContent === '3'")
    assert page.text_content("#playback-state") == "playing"
    assert fresh.get("/_emulator/requests") == [], "nothing may be sent before consent"
    page.evaluate("mediacollect.optIn()")
    wait_for(lambda: accepted(fresh) == [["sessionStart", "stateStart:mute", "play"]])
    start_body = fresh.sessions()[0]["events"][0]["body"]
    assert abs(start_body["playerTime"]["ts"] - pressed["ts"]) < 1000, "held events keep their own time"
    page.evaluate("mediacollect.optOut()")
    count = len(fresh.get("/_emulator/requests"))
    video(page, "v.pause()")
    page.wait_for_selector('#request-log .request[data-event-type="pauseStart"][data-status="dropped"]')
    assert len(fresh.get("/_emulator/requests")) == count, "nothing may be sent after opt-out"


def test_a_reload_mid_session_delivers_what_was_waiting(page: Page, fresh: Emulator) -> None:
    pause_and_play_through_503s(page, fresh, 1000)
    page.wait_for_selector('#request-log .request[data-status="503"]')
    # Python has taken the play in (what the worker never received is not covered: reliability.md).
    page.wait_for_function("document.getElementById('playback-state').textContent === 'playing'")
    page.reload()
    fresh.post("/_emulator/faults", None, method="DELETE")
    wait_ready(page)
    wait_for(lambda: accepted(fresh)[0][3:] == ["pauseStart", "play", "sessionEnd"] and accepted(fresh))
    assert len(accepted(fresh)) == 1, "the reloaded page opens no session before a play"
    press_play(page)
    wait_for(lambda: len(accepted(fresh)) == 2)
    assert fresh.sessions()[1]["events"][0]["body"]["params"]["media.resume"] is True
    assert_no_duplicates(fresh)
    page.wait_for_function("localStorage.length === 0")  # nothing stays stored once delivered


def test_a_404_on_an_event_is_resumed_too(page: Page, fresh: Emulator) -> None:
    start(page, fresh)
    fresh.post("/_emulator/faults", {"status": 404, "event_type": "pauseStart", "message": "unknown session"})
    video(page, "v.pause()")
    wait_for(lambda: len(accepted(fresh)) == 2 and accepted(fresh)[1][-1] == "pauseStart")
    assert fresh.sessions()[1]["events"][0]["body"]["params"]["media.resume"] is True
    assert_no_duplicates(fresh)


def pings(emulator: Emulator) -> list[int]:
    return [e["body"]["playerTime"]["ts"] for s in emulator.sessions() for e in s["events"]
            if e["event_type"] == "ping"]


def test_a_worker_that_wakes_late_keeps_its_pings_on_their_grid(context: BrowserContext, fresh: Emulator) -> None:
    """What a throttled background tab does to timers, reproduced by stalling the worker: three
    requests that take 2.25 ping intervals each (under the request timeout) keep it from waking
    on time. Pings that fell due meanwhile are stamped on their grid (a whole number of
    intervals after the session start), never as a burst with the time they were sent. The page
    pings every second (its content_ping_interval setting, the least it accepts) instead of
    every 10 s: the same mechanism, a tenth of the wait. (CDP's page freezing does not freeze
    dedicated workers, so it cannot emulate this.)"""
    interval_ms = 1_000
    context.add_init_script(with_settings(content_ping_interval=interval_ms / 1000))
    page = context.new_page()
    start(page, fresh)
    video(page, "v.loop = true")  # the 30 s clip must not end the session meanwhile
    wait_for(lambda: len(pings(fresh)) >= 1, timeout=15)
    fresh.post("/_emulator/faults", {"delay_ms": interval_ms * 9 // 4, "count": 3})
    wait_for(lambda: len(pings(fresh)) >= 8, timeout=60)
    [session] = fresh.sessions()
    begun = session["events"][0]["body"]["playerTime"]["ts"]
    times = pings(fresh)
    assert all((t - begun) % interval_ms == 0 for t in times), f"pings off their grid: {[t - begun for t in times]}"
    assert all(b > a for a, b in zip(times, times[1:], strict=False)), "pings sent twice or out of order"
    arrivals = [e["received_at"] for e in session["events"] if e["event_type"] == "ping"]
    assert max(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) > 2 * interval_ms / 1000, \
        "the stall delayed no ping"
    assert_no_duplicates(fresh)
