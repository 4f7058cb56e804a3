"""Leaving the page ends the session: the shim sends sessionEnd with a keepalive fetch."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import press_play, video_time_past, wait_ready
from tests.helpers import BASIC_PAGE, Emulator, wait_for


def open_session(page: Page, emulator: Emulator) -> str:
    emulator.reset()
    page.goto(emulator.page_url(BASIC_PAGE))
    wait_ready(page)
    press_play(page)
    page.wait_for_selector('#request-log .request[data-event-type="play"][data-status="204"]')
    video_time_past(page, 1.5)  # a playhead the sessionEnd can be told from the start by
    return str(emulator.get("/_emulator/sessions")[0]["sid"])


def ends(emulator: Emulator, sid: str) -> list[dict[str, object]]:
    return [e for e in emulator.get(f"/_emulator/sessions/{sid}")["events"] if e["event_type"] == "sessionEnd"]


@pytest.mark.parametrize("how", ["navigate away", "close the tab"])
def test_leaving_the_page_ends_the_session(context: BrowserContext, emulator: Emulator, how: str) -> None:
    page = context.new_page()
    sid = open_session(page, emulator)
    playhead = page.evaluate("document.getElementById('video').currentTime")
    if how == "navigate away":
        page.goto("about:blank")
    else:
        page.close(run_before_unload=True)
    [end] = wait_for(lambda: ends(emulator, sid), timeout=10)
    body = end["body"]
    assert body["eventType"] == "sessionEnd"
    assert abs(body["playerTime"]["playhead"] - playhead) < 1.0
    session = emulator.get(f"/_emulator/sessions/{sid}")
    assert session["closed"] is True
    ts = [e["body"]["playerTime"]["ts"] for e in session["events"]]
    assert ts == sorted(ts)
