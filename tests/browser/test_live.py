"""A live stream in the browser: an element whose duration is Infinity (as a live MediaSource or
HLS stream reports it) is tracked as live, with second-of-the-day playheads (spec §4.2, §5.6)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import press_play, session_starts, video_time_past, wait_ready
from tests.helpers import BASIC_PAGE, Emulator, wait_for

DAY_MS = 86_400_000

# What a live element reports: the browser's own media pipeline is unchanged, only the length is unknown.
LIVE_DURATION = """
Object.defineProperty(HTMLMediaElement.prototype, "duration", {configurable: true, get() { return Infinity; }});
"""


def test_an_infinite_duration_is_tracked_as_live_with_second_of_day_playheads(page: Page, fresh: Emulator) -> None:
    page.add_init_script(LIVE_DURATION)
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    pressed = press_play(page)
    [start] = wait_for(lambda: session_starts(fresh))
    body: dict[str, Any] = start["body"]
    params = body["params"]
    assert params["media.contentType"] == "live"
    assert params["media.length"] == 86400  # spec §3.3: a live stream of unknown length
    second_of_day = (pressed["ts"] % DAY_MS) / 1000
    assert body["playerTime"]["playhead"] == pytest.approx(second_of_day, abs=1.0)

    video_time_past(page, 1.5)
    page.evaluate("document.getElementById('video').pause()")
    sid = start["sid"] or fresh.get("/_emulator/sessions")[0]["sid"]
    pause = wait_for(lambda: [e for e in fresh.get(f"/_emulator/sessions/{sid}")["events"]
                              if e["event_type"] == "pauseStart"])[0]["body"]
    # Live playheads follow the wall clock (UTC second of the day), not the element's currentTime.
    assert pause["playerTime"]["playhead"] == pytest.approx((pause["playerTime"]["ts"] % DAY_MS) / 1000, abs=1.0)
    assert pause["playerTime"]["playhead"] > 100 or second_of_day < 100  # not the element's ~1.5 s
