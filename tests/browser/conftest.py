"""Playwright driving Debian's Chromium (never a downloaded browser) against a real emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, Emulator

READY_TIMEOUT_MS = 60_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


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


def wait_ready(page: Page) -> None:
    page.wait_for_function("document.getElementById('tracker-status').textContent === 'ready'",
                           timeout=READY_TIMEOUT_MS)


@pytest.fixture
def fresh(emulator: Emulator) -> Iterator[Emulator]:
    """The emulator with nothing stored and no fault left over from the test."""
    emulator.reset()
    yield emulator
    emulator.post("/_emulator/faults", None, method="DELETE")


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
