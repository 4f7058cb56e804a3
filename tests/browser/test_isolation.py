"""A host that cannot send COOP/COEP: the page says so and tracks from the main thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import press_play, wait_ready
from tests.helpers import BASIC_PAGE, Emulator, start_emulator, stop_emulator, wait_for


@pytest.fixture
def unisolated(tmp_path: Path) -> Iterator[Emulator]:
    running = start_emulator(tmp_path, "--no-isolation")
    yield running
    stop_emulator(running)


def test_without_isolation_python_runs_on_the_main_thread_and_still_tracks(page: Page, unisolated: Emulator) -> None:
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    page.goto(unisolated.page_url(BASIC_PAGE))
    wait_ready(page)
    assert page.evaluate("crossOriginIsolated") is False
    assert page.evaluate("document.querySelector('script[type=py]').hasAttribute('worker')") is False
    notice = page.text_content("#tracker-error") or ""
    assert "main thread" in notice and "Cross-Origin-Opener-Policy" in notice
    assert any("not cross-origin isolated" in w for w in warnings)  # the shim said it before Python booted
    press_play(page)
    wait_for(lambda: [s for s in unisolated.sessions() if "play" in [e["event_type"] for e in s["events"]]])
    page.evaluate("document.getElementById('video').pause()")
    sessions = wait_for(lambda: [s for s in unisolated.sessions()
                                 if [e["event_type"] for e in s["events"]][-1:] == ["pauseStart"]])
    types = [e["event_type"] for e in sessions[0]["events"] if e["event_type"] != "ping"]
    assert types == ["sessionStart", "stateStart", "play", "pauseStart"]
    assert page.text_content("#session-id") == sessions[0]["sid"]  # the 201's Location, read through fetch


def test_with_isolation_python_runs_in_a_worker(page: Page, emulator: Emulator) -> None:
    page.goto(emulator.page_url(BASIC_PAGE))
    wait_ready(page)
    assert page.evaluate("crossOriginIsolated") is True
    assert page.evaluate("document.querySelector('script[type=py]').hasAttribute('worker')") is True
    assert page.is_hidden("#tracker-error")
