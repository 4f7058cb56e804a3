"""The vertical slice as a viewer meets it: page -> worker -> CORS POST -> Location -> sid.

Page and API are on different origins (two ports), so every test crosses CORS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Playwright

from tests.browser.conftest import fired, press_play, wait_ready
from tests.helpers import BASIC_PAGE, CHROMIUM, CHROMIUM_ARGS, Emulator, free_port, start_emulator, stop_emulator

REQUIRED_PARAMS = {
    "analytics.trackingServer": "example.data.adobedc.net",
    "analytics.reportSuite": "mediacollect-demo",
    "visitor.marketingCloudOrgId": "0123456789ABCDEF01234567@AdobeOrg",
    "media.id": "mediacollect-demo-clip",
    "media.contentType": "vod",
    "media.playerName": "mediacollect-html5",
    "media.channel": "mediacollect-demo",
}


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")


def session_starts(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.get("/_emulator/requests") if r["path"] == "/api/v1/sessions"]


def assert_session_start_matches(body: dict[str, Any], pressed: dict[str, float]) -> None:
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


def test_play_after_ready_opens_a_session_stamped_at_the_press(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    page.evaluate("""() => new Promise(done => {
        const v = document.getElementById('video');
        v.addEventListener('seeked', done, {once: true});
        v.currentTime = 2.5;
    })""")
    pressed = press_play(page)
    assert pressed["ready"] == "ready"

    sessions = wait_for(lambda: [s for s in fresh.sessions() if s["events"]])
    assert len(sessions) == 1
    start = sessions[0]["events"][0]
    assert_session_start_matches(start["body"], pressed)
    assert pressed["playhead"] == pytest.approx(2.5, abs=0.1)
    page.wait_for_function(
        "sid => document.getElementById('session-id').textContent === sid", arg=sessions[0]["sid"]
    )
    page.wait_for_selector('#request-log .request[data-event-type="sessionStart"][data-status="201"]')
    # The first frame follows: a play lands on the same session.
    wait_for(lambda: [e for e in fresh.get(f"/_emulator/sessions/{sessions[0]['sid']}")["events"]
                      if e["event_type"] == "play"])
    assert len(session_starts(fresh)) == 1


def test_play_pressed_before_python_is_ready_keeps_the_press_time(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url(BASIC_PAGE), wait_until="commit")
    page.wait_for_selector("#video", state="attached")
    pressed = press_play(page)
    assert pressed["ready"] != "ready", "Python was already up; the test must press earlier"
    event = fired(page)
    wait_ready(page)
    ready_at = page.evaluate("Date.now()")

    sessions = wait_for(lambda: [s for s in fresh.sessions() if s["events"]])
    assert len(sessions) == 1
    body = sessions[0]["events"][0]["body"]
    assert_session_start_matches(body, event)  # stamped when play fired, to the millisecond budget
    assert body["playerTime"]["ts"] - pressed["ts"] < 1000  # the press, not Python's wake-up
    assert ready_at - body["playerTime"]["ts"] > 1000, "the press must come well before Python is ready"
    page.wait_for_function(
        "sid => document.getElementById('session-id').textContent === sid", arg=sessions[0]["sid"]
    )


@pytest.fixture
def hidden_location(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    running = start_emulator(tmp_path_factory.mktemp("no-expose"), "--no-expose-location")
    yield running
    stop_emulator(running)


def test_unreadable_location_is_reported_and_not_retried(page: Page, hidden_location: Emulator) -> None:
    page.goto(hidden_location.page_url(BASIC_PAGE))
    wait_ready(page)
    press_play(page)
    error = page.wait_for_selector("#tracker-error:not([hidden])")
    wait_for(lambda: "Access-Control-Expose-Headers: Location" in error.text_content())
    page.wait_for_selector('#request-log .request[data-event-type="sessionStart"][data-status="201"]')
    assert page.text_content("#session-id") == "none yet"
    time.sleep(3)  # a client that retried would have sent again by now
    assert len(session_starts(hidden_location)) == 1
    # The server did create a session; the page just could not learn its id.
    assert len(hidden_location.get("/_emulator/sessions")) == 1


def test_a_400_is_shown_with_the_servers_message(page: Page, fresh: Emulator) -> None:
    message = "sessionStart: params.media.channel refused by this test"
    fresh.post("/_emulator/faults", {"status": 400, "endpoint": "sessions", "message": message})
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    press_play(page)
    page.wait_for_selector('#request-log .request[data-event-type="sessionStart"][data-status="400"]')
    error = page.wait_for_selector("#tracker-error:not([hidden])")
    assert message in error.text_content()
    time.sleep(2)
    assert len(session_starts(fresh)) == 1, "a 400 must not be resent unchanged"


def test_a_500_is_retried_with_the_same_body_until_accepted(page: Page, fresh: Emulator) -> None:
    fresh.post("/_emulator/faults", {"status": 503, "count": 2, "endpoint": "sessions"})
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    pressed = press_play(page)
    page.wait_for_selector('#request-log .request[data-event-type="sessionStart"][data-status="201"]',
                           timeout=30_000)
    attempts = session_starts(fresh)
    assert [a["status"] for a in attempts] == [503, 503, 201]
    assert attempts[0]["body"] == attempts[1]["body"] == attempts[2]["body"]
    assert_session_start_matches(attempts[2]["body"], pressed)
    assert page.locator('#request-log .request[data-event-type="sessionStart"][data-status="503"]').count() == 2


def test_the_page_needs_nothing_but_its_own_origins(playwright: Playwright, fresh: Emulator) -> None:
    """Everything but loopback is cut off (a dead proxy, and no name resolves), and every request
    the page and its workers make is recorded: none may leave this machine. (Not Playwright's
    request routing: it sees only what the page asks for, and serves it itself.)"""
    cut_off = [f"--proxy-server=http://127.0.0.1:{free_port()}",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + cut_off)
    try:
        context = browser.new_context()
        seen: list[str] = []
        context.on("request", lambda request: seen.append(request.url))
        page = context.new_page()
        page.goto(fresh.page_url(BASIC_PAGE))
        wait_ready(page)
        press_play(page)
        wait_for(lambda: [s for s in fresh.sessions() if s["events"]])
        page.wait_for_selector('#request-log .request[data-event-type="play"][data-status="204"]')
    finally:
        browser.close()
    local = (fresh.site + "/", fresh.endpoint + "/", "blob:", "data:")
    assert [url for url in seen if not url.startswith(local)] == []
    assert any("/vendor/pyodide-" in url for url in seen)


def test_a_wrong_setting_is_named_and_nothing_is_sent(page: Page, fresh: Emulator) -> None:
    page.goto(f"{fresh.site}{BASIC_PAGE}?endpoint=not-a-url")
    error = page.wait_for_selector("#tracker-error:not([hidden])")
    assert "config field 'endpoint' must be an http(s) URL" in error.text_content()
    assert page.text_content("#tracker-status") == "error"
    press_play(page)
    time.sleep(1.5)
    assert fresh.get("/_emulator/requests") == []
