"""The emulator's inspection UI in Chromium, while the demo page plays in another tab."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import press_play, video_time_past, wait_ready, with_settings
from tests.helpers import START, Emulator, start_emulator, stop_emulator, wait_for


@pytest.fixture
def own_emulator(tmp_path: Path) -> Iterator[Emulator]:
    running = start_emulator(tmp_path)
    yield running
    stop_emulator(running)


def distinct_colours(page: Page, png: bytes) -> int:
    """Decode the screenshot in the browser (no image library here) and count its colours."""
    return int(page.evaluate(
        """async (data) => {
            const img = new Image();
            img.src = 'data:image/png;base64,' + data;
            await img.decode();
            const canvas = new OffscreenCanvas(img.width, img.height);
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const pixels = ctx.getImageData(0, 0, img.width, img.height).data;
            const seen = new Set();
            for (let i = 0; i < pixels.length; i += 4) seen.add((pixels[i] << 16) | (pixels[i+1] << 8) | pixels[i+2]);
            return seen.size;
        }""",
        base64.b64encode(png).decode(),
    ))


def kinds(emulator: Emulator) -> list[str]:
    """The event types the emulator accepted, over every session."""
    return [e["event_type"] for s in emulator.sessions() for e in s["events"]]


def content_events(emulator: Emulator) -> list[str]:
    """The accepted event types after the pre-roll's adBreakComplete."""
    seen = kinds(emulator)
    return seen[seen.index("adBreakComplete"):] if "adBreakComplete" in seen else []


def test_a_playing_session_appears_live_and_its_timeline_is_drawn(own_emulator: Emulator, context: BrowserContext,
                                                                  page: Page) -> None:
    ui = context.new_page()
    ui.goto(own_emulator.endpoint + "/")
    assert ui.url.endswith("/_emulator/ui/")
    ui.wait_for_selector("[data-testid=config]:has-text('time scale')")
    assert ui.locator("[data-testid=session-row]").count() == 0

    # The page pings every 3 s in content (its content_ping_interval setting; 10 s by default):
    # the timeline has a content ping without the wait for a 10 s one.
    page.add_init_script(with_settings(content_ping_interval=3))
    page.goto(own_emulator.page_url())
    wait_ready(page)
    press_play(page)
    video_time_past(page, 2.0)  # into the pre-roll
    page.evaluate("document.getElementById('video').pause()")
    wait_for(lambda: "pauseStart" in kinds(own_emulator))
    page.evaluate("document.getElementById('video').play()")
    # Past the first content ping, 3 s after the pre-roll (the 1 s ad pings come before it).
    wait_for(lambda: "ping" in content_events(own_emulator), timeout=20)

    # The session shows up in the already open UI, without a reload.
    row = ui.locator("[data-testid=session-row]")
    row.first.wait_for(timeout=15_000)
    assert row.count() == 1
    assert "Test pattern (30 s)" in row.first.inner_text()  # the demo video's data-media-name
    row.first.click()

    # The demo: a 4 s pre-roll (paused once), then content in its first chapter.
    ui.wait_for_function("""() => [...document.querySelectorAll('[data-testid=segments] line[data-kind=content]')]
        .some((l) => l.x2.baseVal.value - l.x1.baseVal.value > 20)""", timeout=15_000)
    assert ui.locator("[data-testid=segments] line[data-kind=pause]").count() >= 1
    assert ui.locator("[data-testid=lane-state] rect").count() >= 2
    assert ui.locator("[data-testid=lane-ads] rect").count() == 1
    assert "Sponsor bars" in (ui.locator("[data-testid=lane-ads] rect title").first.text_content() or "")
    assert ui.locator("[data-testid=lane-chapters] rect").count() == 1
    assert ui.locator("[data-testid=marks] circle[data-event-type=sessionStart]").count() == 1
    assert ui.locator("[data-testid=marks] line.ping").count() >= 1
    assert ui.locator("[data-metric=media_starts] dd").inner_text() == "1"
    assert ui.locator("[data-metric=pause_events] dd").inner_text() == "1"
    types = ui.locator("#events tbody tr").evaluate_all("rows => rows.map(r => r.dataset.eventType)")
    assert types[0] == "sessionStart" and {"play", "pauseStart", "ping"} <= set(types)

    shot = ui.locator("[data-testid=plot]").screenshot()
    assert len(shot) > 3000
    assert distinct_colours(ui, shot) >= 6  # background, axes, and several state colours

    export = ui.locator("[data-testid=export]").get_attribute("href") or ""
    assert export.endswith("/export.jsonl")


def test_metadata_is_shown_as_text_never_as_html(own_emulator: Emulator, context: BrowserContext) -> None:
    hostile = '<img src=x onerror="window.__owned=1">'
    body = {**START, "params": {**START["params"], "media.name": hostile, "media.id": "<b>id</b>"},
            "customMetadata": {"note": "<script>window.__owned=2</script>"}}
    request = urllib.request.Request(own_emulator.endpoint + "/api/v1/sessions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    ui = context.new_page()
    ui.goto(own_emulator.endpoint + "/_emulator/ui/")
    row = ui.locator("[data-testid=session-row]").first
    row.wait_for(timeout=15_000)
    assert hostile in row.inner_text()
    row.click()
    ui.wait_for_selector("#events tbody tr[data-event-type=sessionStart]")
    assert "<script>window.__owned=2</script>" in ui.locator("#events tbody").inner_text()
    assert ui.evaluate("window.__owned") is None
    assert ui.locator("#sessions img, #events script, #events b").count() == 0
