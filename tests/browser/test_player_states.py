"""Player states come from the element itself: mute and captions, as a viewer toggles them."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import press_play, wait_ready
from tests.helpers import BASIC_PAGE, Emulator, wait_for


def state_events(emulator: Emulator) -> list[tuple[str, str]]:
    sessions = [s for s in emulator.sessions() if s["events"]]
    if not sessions:
        return []
    return [(e["event_type"], e["body"]["params"]["media.state.name"]) for e in sessions[0]["events"]
            if e["event_type"] in ("stateStart", "stateEnd")]


def toggle(page: Page, script: str) -> None:
    page.evaluate(f"() => {{ const v = document.getElementById('video'); {script}; }}")


def test_mute_and_captions_as_the_viewer_toggles_them(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    press_play(page)
    wait_for(lambda: state_events(fresh) == [("stateStart", "mute")])  # the demo video starts muted
    toggle(page, "v.muted = false")
    wait_for(lambda: len(state_events(fresh)) == 2)
    toggle(page, "v.textTracks[0].mode = 'showing'")
    wait_for(lambda: len(state_events(fresh)) == 3)
    toggle(page, "v.muted = true")
    toggle(page, "v.textTracks[0].mode = 'hidden'")
    expected: list[Any] = [("stateStart", "mute"), ("stateEnd", "mute"), ("stateStart", "closedCaptioning"),
                           ("stateStart", "mute"), ("stateEnd", "closedCaptioning")]
    wait_for(lambda: state_events(fresh) == expected)
