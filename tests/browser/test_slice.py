"""The vertical slice as a viewer meets it: page -> worker -> CORS POST -> Location -> sid.

Page and API are on different origins (two ports), so every test crosses CORS.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Playwright

from mediacollect._retry import BASE_DELAY
from tests.browser.conftest import (
    assert_session_start_matches,
    diagnose,
    fired,
    press_play,
    session_starts,
    wait_ready,
)
from tests.helpers import (
    BASIC_PAGE,
    CHROMIUM,
    CHROMIUM_ARGS,
    Emulator,
    free_port,
    holds,
    wait_for,
)


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


def test_unreadable_location_is_reported_and_not_retried(page: Page, hidden_location: Emulator) -> None:
    page.goto(hidden_location.page_url(BASIC_PAGE))
    wait_ready(page)
    press_play(page)
    error = page.wait_for_selector("#tracker-error:not([hidden])")
    wait_for(lambda: "Access-Control-Expose-Headers: Location" in error.text_content())
    page.wait_for_selector('#request-log .request[data-event-type="sessionStart"][data-status="201"]')
    assert page.text_content("#session-id") == "none yet"
    holds(lambda: len(session_starts(hidden_location)) == 1, 3 * BASE_DELAY,
          why="a client that retried would have sent twice by now (backoff 1 s, then 2 s)")
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
    holds(lambda: len(session_starts(fresh)) == 1, 3 * BASE_DELAY,
          why="a 400 must not be resent unchanged: a retry would have come by now (backoff 1 s, then 2 s)")


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
    # Python answers after it has handled the press: it bound no element, so nothing was sent.
    assert diagnose(page)["python"]["bindings"] == 0
    assert fresh.get("/_emulator/requests") == []
