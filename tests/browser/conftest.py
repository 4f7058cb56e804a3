"""Playwright driving Debian's Chromium (never a downloaded browser) against a real emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.helpers import BASIC_PAGE, CHROMIUM, CHROMIUM_ARGS, ROOT, Emulator, start_emulator, stop_emulator, wait_for

_T = TypeVar("_T")

READY_TIMEOUT_MS = 60_000


# What a test's fixtures can tell about a failure (the page's panel, the emulator's read-back):
# asked while the browser is still up, and shown with the failure.
DIAGNOSE = pytest.StashKey[Callable[[], str]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    diagnose = item.stash.get(DIAGNOSE, None)
    if report.when == "call" and diagnose is not None and (report.failed or hasattr(report, "wasxfail")):
        try:
            text = diagnose()
        except Exception as err:  # the browser may be gone: say so, keep the failure as it is
            text = f"(no diagnosis: {err!r})"
        report.sections.append(("what the browser and the emulator showed", text))
    return report


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    vendor = ROOT / "vendor"
    if not (vendor / "wheels").is_dir():
        pytest.fail("vendor/ is not built: run `make vendor` (the README's test command does it)")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make test` does it)")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: cold caches, no state carried between tests."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    return page


# Settings merged into the page's block before the tracker reads it (an init script, rather than
# rewriting the served page).
_SETTINGS = """
document.addEventListener("DOMContentLoaded", () => {
  const block = document.getElementById("mediacollect-config");
  block.textContent = JSON.stringify({...JSON.parse(block.textContent), ...%s});
});
"""


def with_settings(**settings: Any) -> str:
    """An init script that sets these fields of the page's settings (the tracker's config block)."""
    return _SETTINGS % json.dumps(settings)


def wait_ready(page: Page) -> None:
    page.wait_for_function("document.getElementById('tracker-status').textContent === 'ready'",
                           timeout=READY_TIMEOUT_MS)


# Press play as the viewer's click does: the press's moment and position, whether Python was
# ready then; window.__playFired gets when ``play`` really fired. A function body, for every engine.
PRESS_PLAY_JS = """
    const v = document.getElementById('video');
    const pressed = {ts: Date.now(), playhead: v.currentTime,
                     ready: document.getElementById('tracker-status').textContent};
    v.addEventListener('play', () => { window.__playFired = {ts: Date.now(), playhead: v.currentTime}; },
                       {once: true});
    v.play();
    return pressed;"""


def press_play(page: Page) -> dict[str, float]:
    """Start playback as the viewer's click does, and note the moment and the position.

    The browser fires ``play`` in a later task than the press; while PyScript boots, a long task
    can sit in between. ``fired()`` gives the moment the event really fired (what the shim must
    record); ``ts`` is the press."""
    return page.evaluate(f"() => {{ {PRESS_PLAY_JS} }}")  # type: ignore[no-any-return]


def fired(page: Page) -> dict[str, float]:
    """When and where the ``play`` that ``press_play`` caused actually fired."""
    page.wait_for_function("window.__playFired !== undefined")
    return page.evaluate("window.__playFired")


def page_wait_for(page: Page, predicate: Callable[[], _T], timeout: float = 30.0) -> _T:
    """``wait_for`` for a predicate fed by the page's events (console messages, page errors):
    Playwright delivers them only while it waits, so the pauses between polls are the page's."""
    return wait_for(predicate, timeout, sleep=lambda seconds: page.wait_for_timeout(seconds * 1000))


def watch(page: Page, seconds: float, why: str) -> None:
    """The viewer goes on watching for ``seconds`` of wall-clock time because the scenario is
    about time passing (a ping falling due, a network staying down), not about a condition;
    ``why`` says which. Poll for the outcome afterwards."""
    assert why
    page.wait_for_timeout(seconds * 1000)


def shim_stats(page: Page) -> dict[str, Any]:
    """The shim's own counts (elements watched, records not yet taken by Python, ...)."""
    return page.evaluate("JSON.parse(window.mediacollectShim.stats())")  # type: ignore[no-any-return]


def video_time_past(page: Page, seconds: float, element: str = "video", timeout_ms: float = 30_000) -> None:
    """Wait until the element has played past ``seconds`` of its media."""
    page.wait_for_function("([id, t]) => document.getElementById(id).currentTime > t", arg=[element, seconds],
                           timeout=timeout_ms)


def diagnose(page: Page) -> dict[str, Any]:
    """``mediacollect.diagnose()``: the shim's counts at once, then Python's, which answers once it
    has handled every record before the request (they are handled in order)."""
    page.evaluate("() => { window.mediacollectShim.diagnosis = null; }")
    shim = page.evaluate("() => window.mediacollect.diagnose()")
    page.wait_for_function("window.mediacollectShim.diagnosis !== null")
    return {"shim": shim, "python": json.loads(page.evaluate("window.mediacollectShim.diagnosis"))}


def accepted(emulator: Emulator) -> list[list[str]]:
    """Per session, the accepted events but pings, as 'type' or 'stateStart:mute'."""
    out = []
    for session in emulator.sessions():
        names = []
        for event in session["events"]:
            kind = event["event_type"]
            if kind == "ping":
                continue
            state = (event["body"].get("params") or {}).get("media.state.name")
            names.append(f"{kind}:{state}" if state else kind)
        out.append(names)
    return out


@pytest.fixture(scope="module")
def hidden_location(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator whose 201s do not expose Location to the page (no session id to learn)."""
    running = start_emulator(tmp_path_factory.mktemp("no-expose"), "--no-expose-location")
    yield running
    stop_emulator(running)


def session_starts(emulator: Emulator) -> list[dict[str, Any]]:
    """Every sessionStart request the emulator received, accepted or not, oldest first."""
    return [r for r in emulator.get("/_emulator/requests") if r["path"] == "/api/v1/sessions"]


# The basic page's settings and its element's data attributes, as its sessionStart must carry them.
REQUIRED_PARAMS = {
    "analytics.trackingServer": "example.data.adobedc.net",
    "analytics.reportSuite": "mediacollect-demo",
    "visitor.marketingCloudOrgId": "0123456789ABCDEF01234567@AdobeOrg",
    "media.id": "mediacollect-demo-clip",
    "media.contentType": "vod",
    "media.playerName": "mediacollect-html5",
    "media.channel": "mediacollect-demo",
}


def assert_session_start_matches(body: dict[str, Any], pressed: dict[str, float]) -> None:
    """The basic page's sessionStart, stamped at ``pressed`` (its ``ts`` and ``playhead``)."""
    assert body["eventType"] == "sessionStart"
    assert abs(body["playerTime"]["ts"] - pressed["ts"]) <= 50
    assert abs(body["playerTime"]["playhead"] - pressed["playhead"]) <= 0.25
    params = body["params"]
    for key, value in REQUIRED_PARAMS.items():
        assert params[key] == value, key
    assert params["media.length"] == pytest.approx(30.0, abs=0.1)
    assert params["media.name"] == "Test pattern (30 s)"
    assert params["analytics.visitorId"] == "demo-visitor"
    assert params["analytics.enableSSL"] is True
    assert params["media.sdkVersion"].startswith("mediacollect-")
    assert body["customMetadata"] == {"demo.page": "basic"}


# An init script: every Content-Security-Policy violation the page or its workers report.
COLLECT_VIOLATIONS = """
globalThis.__violations = [];
addEventListener("securitypolicyviolation", (e) =>
  __violations.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def assert_no_duplicates(emulator: Emulator) -> None:
    bodies = [(s["sid"], e["body"]["playerTime"]["ts"]) for s in emulator.sessions() for e in s["events"]]
    assert len(bodies) == len(set(bodies)), "an event was accepted twice"
    for session in emulator.sessions():
        ts = [e["body"]["playerTime"]["ts"] for e in session["events"]]
        assert ts == sorted(ts), "events must be accepted in order"


def video(page: Page, script: str) -> Any:
    return page.evaluate(f"() => {{ const v = document.getElementById('video'); return {script}; }}")


def start(page: Page, emulator: Emulator) -> None:
    page.goto(emulator.page_url(BASIC_PAGE))
    wait_ready(page)
    press_play(page)
    wait_for(lambda: accepted(emulator) == [["sessionStart", "stateStart:mute", "play"]])
