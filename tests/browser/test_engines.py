"""The core scenarios, one definition, in every engine a site's viewers use: Chromium, Firefox
ESR and WebKitGTK (Safari's engine), each from Debian, against the real emulator.

The Chromium suite (the other modules) goes deeper; these are what must hold everywhere. Tests
are grouped by engine (one browser at a time), each with a new profile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediacollect._retry import BASE_DELAY
from tests.browser.conftest import DIAGNOSE, PRESS_PLAY_JS, accepted, assert_session_start_matches, session_starts
from tests.browser.engines import (
    FIREFOX,
    MINIBROWSER,
    WEBKIT_DRIVER,
    ChromiumEngine,
    Engine,
    FirefoxEngine,
    WebKitEngine,
    virtual_display,
    wait_until,
)
from tests.browser.gate import gate
from tests.helpers import BASIC_PAGE, Emulator, holds, wait_for

# webkit: WebKitGTK as Debian ships it (no SharedArrayBuffer: Python on the main thread);
# webkit-sab: the same with SharedArrayBuffer on for isolated pages, as Safari has it (worker).
# Every engine but Chromium by default (Chromium runs the whole browser suite already);
# MEDIACOLLECT_ENGINES narrows or widens the list for a local run ("firefox", "chromium,webkit",
# "none").
DEFAULT_ENGINES = "firefox,webkit,webkit-sab"
ENGINES = [name for name in os.environ.get("MEDIACOLLECT_ENGINES", DEFAULT_ENGINES).split(",")
           if name and name != "none"]
# Where Python runs in each engine, as the site serves it: WebKitGTK offers no
# SharedArrayBuffer even to an isolated page, so the shim moves Python to the main thread there.
MODE = {"chromium": "worker", "firefox": "worker", "webkit": "main thread", "webkit-sab": "worker"}
if set(ENGINES) - set(MODE):
    raise pytest.UsageError(f"MEDIACOLLECT_ENGINES: unknown {sorted(set(ENGINES) - set(MODE))}; known: {sorted(MODE)}")
# A browser whose own content process crashed (BrowserCrashed: WebKitGTK's, once in a CI run)
# runs the scenario once more in a new browser; pytest reports the rerun. Any other failure fails.
pytestmark = pytest.mark.flaky(reruns=1, only_rerun=["BrowserCrashed"])
READY = "document.getElementById('tracker-status').textContent === 'ready'"
READY_TIMEOUT = 90.0  # ready takes 1-4 s (bench/engines.py); the machine is shared


# Differences found and not yet fixed: (reason, strict). Each still runs. A strict one must
# fail: the day it passes, its entry has to go. An intermittent one is reported either way
# (XFAIL/XPASS in -rxX). README, "Browsers", says what a viewer meets.
KNOWN_FAILURES: dict[tuple[str, str], tuple[str, bool]] = {}


@pytest.fixture(autouse=True)
def known_failure(request: pytest.FixtureRequest, engine_name: str) -> None:
    known = KNOWN_FAILURES.get((request.function.__name__, engine_name))
    if known:
        request.applymarker(pytest.mark.xfail(strict=known[1], reason=known[0]))


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    with virtual_display() as name:
        yield name


@pytest.fixture(scope="session")
def firefox_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return FirefoxEngine.template(tmp_path_factory.mktemp("firefox-template"))


def launch(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Any:
    if name == "chromium":
        return ChromiumEngine(request.getfixturevalue("browser"))
    if name == "firefox":
        if not Path(FIREFOX).exists():
            pytest.fail(f"{FIREFOX} is missing: install Debian's firefox-esr (`make test` does it)")
        return FirefoxEngine(tmp_path / "firefox-profile", request.getfixturevalue("firefox_template"))
    for path in (WEBKIT_DRIVER, MINIBROWSER):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: install Debian's webkit2gtk-driver (`make test` does it)")
    return WebKitEngine(request.getfixturevalue("display"), tmp_path / "webkit.log",
                        shared_array_buffer=name == "webkit-sab")


@pytest.fixture(scope="module", params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(request: pytest.FixtureRequest, engine_name: str, tmp_path: Path) -> Iterator[Engine]:
    running = launch(request, engine_name, tmp_path)
    emulators = [request.getfixturevalue(name) for name in ("fresh", "hidden_location")
                 if name in request.fixturenames]
    request.node.stash[DIAGNOSE] = lambda: diagnosis(running, emulators)
    yield running
    running.close()


# The page's panel and the shim's own counts, as the page has them when a test fails.
PAGE_STATE_JS = """
    const text = (id) => { const e = document.getElementById(id); return e ? e.textContent : null; };
    const v = document.getElementById('video');
    return JSON.stringify({
        url: location.href, python: text('tracker-status'), error: text('tracker-error'),
        playback: text('playback-state'), sid: text('session-id'),
        video: v && {currentTime: v.currentTime, paused: v.paused, readyState: v.readyState},
        playFired: window.__playFired || null,
        shim: window.mediacollectShim ? JSON.parse(window.mediacollectShim.stats()) : null,
        log: [...document.querySelectorAll('#request-log .request')].map(r => r.textContent.trim()),
        stored: Object.fromEntries(Object.keys(localStorage).map(k => [k, localStorage.getItem(k)])),
        // What the page fetched, and when (ms from navigation): where a start-up stopped.
        loaded: performance.getEntriesByType('resource').map(r =>
            `${r.name.split('?')[0].split('/').slice(-2).join('/')} `
            + `${Math.round(r.startTime)}-${Math.round(r.responseEnd)}`),
        now: Math.round(performance.now()),
    }, null, 1);"""


def diagnosis(engine: Engine, emulators: list[Emulator]) -> str:
    """What differs in a failing run: the page (panel, request log, shim counts, storage), what
    reached each emulator (status, type, ts, playhead), and the console."""
    try:
        page = engine.evaluate(PAGE_STATE_JS)
    except Exception as err:  # the tab may be closed, the page between documents
        page = f"(page unreadable: {err})"
    lines = [f"{engine.name} {engine.version}", f"page: {page}"]
    for emulator in emulators:
        lines.append(f"emulator {emulator.endpoint} received:")
        for r in emulator.get("/_emulator/requests"):
            time_ = (r["body"] or {}).get("playerTime") or {}
            lines.append(f"  {r['received_at']} {r['method']} {r['path']} {r['status']} {r['event_type']}"
                         f" ts={time_.get('ts')} playhead={time_.get('playhead')} {r['message'] or ''}")
    lines += ["console:", engine.console()]
    return "\n".join(lines)


# --- the viewer's actions and the test's reads, for any engine ---------------------------


def video(engine: Engine, script: str) -> Any:
    return engine.evaluate(f"const v = document.getElementById('video'); return {script};")


def open_page(engine: Engine, emulator: Emulator) -> None:
    engine.goto(emulator.page_url(BASIC_PAGE))
    wait_until(engine, READY, READY_TIMEOUT)


def press_play(engine: Engine) -> dict[str, Any]:
    """Start playback as the viewer's click does; the moment and position of the press, and
    whether Python was ready then. ``window.__playFired`` gets when ``play`` really fired."""
    pressed: dict[str, Any] = engine.evaluate(PRESS_PLAY_JS)
    return pressed


def seek(engine: Engine, position: float) -> None:
    """Move the (paused) video and wait until it got there."""
    engine.evaluate("""return new Promise(done => {
        const v = document.getElementById('video');
        v.addEventListener('seeked', () => done(true), {once: true});
        v.currentTime = arguments[0];
    });""", position)


def logged(engine: Engine, selector: str, timeout: float = 30.0) -> None:
    """Wait for a row of the page's request log."""
    wait_until(engine, f"document.querySelector('#request-log .request{selector}') !== null", timeout)


def assert_in_order_once(emulator: Emulator) -> None:
    for session in emulator.sessions():
        ts = [e["body"]["playerTime"]["ts"] for e in session["events"]]
        assert ts == sorted(ts) and len(ts) == len(set(ts)), "events must be accepted once each, in order"


def start_viewing(engine: Engine, emulator: Emulator) -> None:
    open_page(engine, emulator)
    press_play(engine)
    wait_for(lambda: accepted(emulator) == [["sessionStart", "stateStart:mute", "play"]])


# --- the scenarios -------------------------------------------------------------------------


def test_the_page_runs_python_where_the_engine_allows(engine: Engine, engine_name: str, fresh: Emulator) -> None:
    """In a worker where the page can be isolated and SharedArrayBuffer exists; otherwise on the
    main thread, said on the page. Either way a play is tracked."""
    open_page(engine, fresh)
    # Every engine is isolated: WebKit through COEP require-corp (it has no credentialless).
    assert engine.evaluate("return [crossOriginIsolated, document.querySelector('video').readyState > 0]") \
        == [True, True], "the page must be isolated and its own media still load"
    mode = "worker" if engine.evaluate(
        "return document.querySelector('script[type=py]').hasAttribute('worker')") else "main thread"
    assert mode == MODE[engine_name]
    notice = engine.evaluate("return document.getElementById('tracker-error').textContent")
    assert ("main thread" in notice) == (mode == "main thread")
    press_play(engine)
    wait_for(lambda: accepted(fresh) == [["sessionStart", "stateStart:mute", "play"]])


def test_play_after_ready_opens_a_session_stamped_at_the_press(engine: Engine, fresh: Emulator) -> None:
    open_page(engine, fresh)
    seek(engine, 2.5)
    pressed = press_play(engine)
    assert pressed["ready"] == "ready"
    assert pressed["playhead"] == pytest.approx(2.5, abs=0.1)
    [session] = wait_for(lambda: [s for s in fresh.sessions() if s["events"]])
    assert_session_start_matches(session["events"][0]["body"], pressed)
    wait_until(engine, "document.getElementById('session-id').textContent === arguments[0]", 30, session["sid"])
    wait_for(lambda: accepted(fresh) == [["sessionStart", "stateStart:mute", "play"]])
    assert len(session_starts(fresh)) == 1


def test_play_pressed_before_python_is_ready_keeps_its_time(engine: Engine, engine_name: str, fresh: Emulator) -> None:
    """The page's Python (``main.py``) is held at the server until the viewer has pressed play
    and the video has played on for a second: the runtime is up, Python is not. The session must
    carry the moment and position of the play, not of Python's start."""
    with gate(fresh, "/main.py") as held:
        engine.goto(held.page_url(BASIC_PAGE))
        wait_for(held.requested, timeout=READY_TIMEOUT)  # the runtime asks for the page's Python: held
        seek(engine, 2.5)
        pressed = press_play(engine)
        assert pressed["ready"] == "loading"
        fired = wait_until(engine, "window.__playFired")
        # Python wakes up well after the play, at another position: a stamp taken then would show.
        wait_until(engine, "Date.now() - arguments[0] > 1000 && document.getElementById('video').currentTime"
                           " > arguments[1] + 0.5", 30, fired["ts"], fired["playhead"])
        assert fresh.get("/_emulator/requests") == [], "nothing can be sent before Python runs"
        assert engine.evaluate(f"return {READY}") is False
        held.release()
        wait_until(engine, READY, READY_TIMEOUT)
    [session] = wait_for(lambda: [s for s in fresh.sessions() if s["events"]])
    body = session["events"][0]["body"]
    assert_session_start_matches(body, fired)  # stamped when play fired, not when Python woke
    assert fired["playhead"] == pytest.approx(2.5, abs=0.1)
    # Not before the press, to the clock's grain: Firefox coarsens Date.now() to 1 ms with jitter
    # (privacy.reduceTimerPrecision), and the test's script and the page's are two realms (seen:
    # the stamp 1 ms before the press).
    assert -1 <= body["playerTime"]["ts"] - pressed["ts"] < 1000
    opened = ["sessionStart", "stateStart:mute", "play"]
    if MODE[engine_name] == "main thread":
        # Python's start-up on the page's thread freezes the page (README, "Browsers"), and the
        # video playing meanwhile may stall on that (waiting, then playing): a buffering, which
        # the tracker reports after the play, at the moment and position it happened.
        def one_session_opened() -> list[str] | None:
            sessions = accepted(fresh)
            return sessions[0] if len(sessions) == 1 and sessions[0][:3] == opened else None

        names = wait_for(one_session_opened)
        assert names[3:] in ([], ["bufferStart"], ["bufferStart", "play"]), names
    else:
        wait_for(lambda: accepted(fresh) == [opened])
    play = next(e["body"] for e in fresh.sessions()[0]["events"] if e["event_type"] == "play")
    assert play["playerTime"]["playhead"] == pytest.approx(2.5, abs=0.5), "the play is where the viewer pressed"


def test_an_unreadable_location_is_reported_and_not_retried(engine: Engine, hidden_location: Emulator) -> None:
    hidden_location.reset()
    open_page(engine, hidden_location)
    press_play(engine)
    wait_until(engine, "document.getElementById('tracker-error').textContent"
                       ".includes('Access-Control-Expose-Headers: Location')")
    logged(engine, '[data-event-type="sessionStart"][data-status="201"]')
    assert engine.evaluate("return document.getElementById('session-id').textContent") == "none yet"
    holds(lambda: len(session_starts(hidden_location)) == 1, 3 * BASE_DELAY,
          why="a client that retried would have sent twice by now (backoff 1 s, then 2 s)")
    assert len(hidden_location.get("/_emulator/sessions")) == 1  # the server made one; the page cannot know it


def pings(emulator: Emulator) -> list[dict[str, Any]]:
    return [e["body"] for s in emulator.sessions() for e in s["events"] if e["event_type"] == "ping"]


def test_a_viewing_with_pause_and_seek_keeps_its_pings_on_the_10_s_grid(engine: Engine, fresh: Emulator) -> None:
    """Pause, play and a seek (in the first 10 s, on a machine not too busy), then a ping: a timer
    restarted by any of them would put it off the grid that sessionStart set."""
    start_viewing(engine, fresh)
    video(engine, "v.pause()")
    wait_for(lambda: accepted(fresh)[0][-1] == "pauseStart")
    video(engine, "v.play()")
    wait_for(lambda: accepted(fresh)[0][-1] == "play" and len(accepted(fresh)[0]) > 4)
    video(engine, "v.currentTime = 3")  # a seek while playing: one pauseStart, then play at the new position
    wait_for(lambda: accepted(fresh)[0][-2:] == ["pauseStart", "play"] and len(accepted(fresh)[0]) > 6)
    # A ping after all of that: the first one (10 s) unless the machine was slow.
    [session] = fresh.sessions()
    begun = session["events"][0]["body"]["playerTime"]["ts"]
    seek_done = max(e["body"]["playerTime"]["ts"] for e in session["events"] if e["event_type"] != "ping")
    wait_for(lambda: any(p["playerTime"]["ts"] > seek_done for p in pings(fresh)), timeout=25)
    [session] = fresh.sessions()
    bodies = [e["body"] for e in session["events"]]
    off = [b["playerTime"]["ts"] - begun for b in pings(fresh) if (b["playerTime"]["ts"] - begun) % 10_000]
    assert off == [], f"pings off their 10 s grid from sessionStart: {off}"
    kinds = [b["eventType"] for b in bodies if b["eventType"] != "ping"]
    assert kinds[:7] == ["sessionStart", "stateStart", "play", "pauseStart", "play", "pauseStart", "play"]
    assert [b for b in bodies if b["eventType"] == "play"][2]["playerTime"]["playhead"] \
        == pytest.approx(3, abs=0.5), "the play after the seek is at the new position"
    assert_in_order_once(fresh)


def test_a_burst_of_503s_loses_nothing(engine: Engine, fresh: Emulator) -> None:
    start_viewing(engine, fresh)
    # Three in a row: the retries' backoff (full jitter from 1 s, doubling) is at most 7 s here;
    # test_faults.py goes deeper in Chromium.
    fresh.post("/_emulator/faults", {"status": 503, "count": 3, "endpoint": "events"})
    video(engine, "v.pause()")
    logged(engine, '[data-status="503"]')
    video(engine, "v.play()")
    wait_for(lambda: accepted(fresh)[0][3:5] == ["pauseStart", "play"], timeout=60)
    assert len([r for r in fresh.get("/_emulator/requests") if r["status"] == 503]) == 3
    assert_in_order_once(fresh)


def test_offline_and_back_delivers_everything(engine: Engine, fresh: Emulator) -> None:
    """The browser's own offline mode where the driver can set it. WebKitWebDriver cannot: there
    the network is cut at the API (every connection dropped), which the page sees as failed
    requests but no ``offline``/``online`` events, so it finds the way back on its retry backoff
    (at most 30 s) instead of at once."""
    start_viewing(engine, fresh)
    browser_offline = engine.offline(True)
    if not browser_offline:
        fresh.post("/_emulator/faults", {"drop": True, "count": 10_000})
    video(engine, "v.pause()")
    logged(engine, '[data-status="network"]', timeout=45)  # a cut connection may fail only at the 10 s timeout
    video(engine, "v.play()")
    wait_until(engine, "document.getElementById('playback-state').textContent === 'playing'")
    assert accepted(fresh) == [["sessionStart", "stateStart:mute", "play"]], "nothing can arrive while offline"
    back = time.monotonic()
    if browser_offline:
        engine.offline(False)
    else:
        fresh.post("/_emulator/faults", None, method="DELETE")
    wait_for(lambda: accepted(fresh)[0][3:5] == ["pauseStart", "play"], timeout=40)
    if browser_offline:
        assert time.monotonic() - back < 10, "the network coming back must be noticed, not waited out"
    assert_in_order_once(fresh)


def test_closing_the_tab_ends_the_session(engine: Engine, fresh: Emulator) -> None:
    start_viewing(engine, fresh)
    logged(engine, '[data-event-type="play"][data-status="204"]')
    playhead = video(engine, "v.currentTime")
    [sid] = [s["sid"] for s in fresh.get("/_emulator/sessions")]
    engine.close_tab()
    [end] = wait_for(lambda: [e for e in fresh.get(f"/_emulator/sessions/{sid}")["events"]
                              if e["event_type"] == "sessionEnd"], timeout=15)
    assert end["body"]["playerTime"]["playhead"] == pytest.approx(playhead, abs=1.5)
    assert fresh.get(f"/_emulator/sessions/{sid}")["closed"] is True
    assert_in_order_once(fresh)


def test_a_reload_mid_session_delivers_what_was_waiting(engine: Engine, fresh: Emulator) -> None:
    start_viewing(engine, fresh)
    fresh.post("/_emulator/faults", {"status": 503, "count": 1000, "endpoint": "events"})
    video(engine, "v.pause()")
    logged(engine, '[data-status="503"]')
    video(engine, "v.play()")
    # Python has taken the play in (what the worker never received is not covered: reliability.md).
    wait_until(engine, "document.getElementById('playback-state').textContent === 'playing'")
    engine.reload()
    fresh.post("/_emulator/faults", None, method="DELETE")
    wait_until(engine, READY, READY_TIMEOUT)
    try:
        wait_for(lambda: accepted(fresh)[0][3:] == ["pauseStart", "play", "sessionEnd"])
    except AssertionError:
        raise AssertionError(f"accepted: {accepted(fresh)}; "
                             f"stored: {engine.evaluate('return JSON.stringify(localStorage)')}") from None
    assert len(accepted(fresh)) == 1, "the reloaded page opens no session before a play"
    press_play(engine)
    wait_for(lambda: len(accepted(fresh)) == 2)
    assert fresh.sessions()[1]["events"][0]["body"]["params"]["media.resume"] is True
    assert_in_order_once(fresh)
    wait_until(engine, "localStorage.length === 0")  # nothing stays stored once delivered
