"""The page never contacts a host but its own origin and the endpoint, whatever fails.

PyScript falls back to downloading its default interpreter from a public CDN when a config does
not load, names no interpreter, or (under a Content-Security-Policy without 'unsafe-eval') when
its set-up cannot compile code. The build seals the vendored runtime (tools/seal_runtime.py):
each of these is a named error in the page's panel and console within seconds, and no request
leaves for another host."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import watch
from tests.browser.origins import foreign_requests, replace_in, site_copy
from tests.helpers import BASIC_PAGE, ROOT, Emulator, start_emulator, stop_emulator

ERROR_WITHIN_MS = 10_000  # Python would be ready in ~3 s; a failure shows well before that


def mistyped_config(site: Path) -> None:
    replace_in(site / "examples" / "basic.html", 'config="/pyscript.toml"', 'config="/pyscript.tmol.toml"')


def missing_interpreter(site: Path) -> None:
    replace_in(site / "pyscript.toml", "/pyodide.mjs", "/pyodide-missing.mjs")


def interpreter_elsewhere(site: Path) -> None:
    """Outside vendor/: the error is still PyScript's own, so the panel still shows it."""
    replace_in(site / "pyscript.toml", '"/vendor/mediacollect-0.1.0/pyodide.mjs"', '"/pyodide.mjs"')


def no_eval(site: Path) -> None:
    """A policy like the site's, without 'unsafe-eval' (a <meta>: the site's header allows it)."""
    replace_in(site / "examples" / "basic.html", '<meta charset="utf-8">',
               '<meta charset="utf-8">\n  <meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
               "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self' http://127.0.0.1:*; "
               "media-src 'self'; style-src 'self'; img-src data:\">")


CASES: dict[str, tuple[Callable[[Path], None], str, tuple[str, ...]]] = {
    # (site edit, text the panel must show, more that its message must name)
    "mistyped config": (mistyped_config, "pyscript config /pyscript.tmol.toml: 404", ()),
    "missing interpreter": (missing_interpreter, "pyscript interpreter ", ("/mediacollect-0.1.0/pyodide-missing.mjs",)),
    "interpreter elsewhere": (interpreter_elsewhere, "pyscript interpreter ", ("/pyodide.mjs",)),
    "eval blocked": (no_eval, "'unsafe-eval' is not an allowed source of script", ()),
}


@pytest.fixture(scope="module")
def broken_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Emulator]]:
    """One emulator per failure, each serving a copy of the site broken in one way."""
    running: dict[str, Emulator] = {}
    try:
        for name, (edit, _, _) in CASES.items():
            tmp = tmp_path_factory.mktemp(re.sub(r"\W", "-", name))
            running[name] = start_emulator(tmp, "--site-root", str(site_copy(tmp / "site", edit)))
        yield running
    finally:
        for emulator in running.values():
            stop_emulator(emulator)


@pytest.mark.parametrize("case", list(CASES))
def test_a_runtime_that_cannot_start_says_why_and_contacts_nobody(
        case: str, context: BrowserContext, page: Page, broken_sites: dict[str, Emulator]) -> None:
    _, shown, named = CASES[case]
    emulator = broken_sites[case]
    foreign = foreign_requests(context)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console.append(str(error)))
    page.goto(emulator.page_url(BASIC_PAGE))
    # expect() polls from Playwright's own world: a string predicate would be eval, refused here.
    expect(page.locator("#tracker-status")).to_have_text("error", timeout=ERROR_WITHIN_MS)
    message = page.text_content("#tracker-error") or ""
    assert page.is_visible("#tracker-error")
    assert message.startswith("Python could not start: ") and shown in message, message
    assert all(part in message for part in named), message
    assert any(shown in line for line in console), console  # the console says it too
    page.evaluate("document.getElementById('video').play()")
    watch(page, 1, why="a fallback to a copy elsewhere would show itself within a second of the press")
    assert foreign == []
    assert page.text_content("#tracker-status") == "error"
    assert emulator.sessions() == []


def test_no_download_default_is_left_in_the_vendored_runtime() -> None:
    """The build's own check, on what it built: no absolute URL with a version in its path (what
    a CDN default looks like) in any script of vendor/."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import seal_runtime
    finally:
        sys.path.remove(str(ROOT / "tools"))
    vendor = ROOT / "vendor"
    assert [f for f in vendor.glob("pyscript-*/*.js")]
    assert seal_runtime.check(vendor) == []
    # ... and the check does find them where they are: in the npm packages as published.
    assert seal_runtime.check(ROOT / "node_modules" / "@pyscript" / "core" / "dist")
    assert seal_runtime.check(ROOT / "node_modules" / "pyodide")
