"""Python's start-up in the browser, and how its failures show.

The interpreter module installs our wheels by name from the lock, and the browser checks each
one against the lock's sha256 (the fetch's integrity): a wheel that does not match is refused and
no Python of ours runs, whatever the server sends. That failure, and a fault while binding the
players, are shown on the page, not only in the console. Pyodide starts from the standard library
the build compiled (tools/compile_stdlib.mjs): nothing the page imports is compiled in the browser."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import press_play, wait_ready
from tests.browser.test_slice import wait_for
from tests.helpers import BASIC_PAGE, ROOT, Emulator, start_emulator, stop_emulator


def site_copy(target: Path) -> Path:
    target.mkdir()
    for name in ("index.html", "main.py", "pyscript.toml"):
        shutil.copy2(ROOT / name, target / name)
    for folder in ("examples", "media", "vendor"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


@pytest.fixture
def tampered(tmp_path: Path) -> Iterator[Emulator]:
    """A site whose mediacollect wheel is not the one the lock describes (one byte more)."""
    site = site_copy(tmp_path / "site")
    wheel = next((site / "vendor" / "wheels").glob("mediacollect-*.whl"))
    for sibling in (wheel.with_name(wheel.name + ".br"), wheel.with_name(wheel.name + ".gz")):
        sibling.unlink()
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    running = start_emulator(tmp_path, "--site-root", str(site))
    yield running
    stop_emulator(running)


def test_a_wheel_that_does_not_match_the_lock_is_refused(page: Page, tampered: Emulator) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))  # how PyScript passes the worker's error on
    page.goto(tampered.page_url(BASIC_PAGE))
    wheel = "/vendor/wheels/mediacollect-"
    for _ in range(60):  # Pyodide starts first (a few seconds), then the wheel is checked
        if any(wheel in message for message in messages):
            break
        page.wait_for_timeout(500)
    refusal = next((m for m in messages if wheel in m), f"nothing about the wheel in {messages}")
    assert "does not match its sha256 in pyodide-lock.json" in refusal  # names the file and the rule
    # The viewer sees it too: the page's panel says Python could not start, and why.
    page.wait_for_function("document.getElementById('tracker-status').textContent === 'error'", timeout=5000)
    assert page.is_visible("#tracker-error")
    shown = page.text_content("#tracker-error") or ""
    assert shown.startswith("Python could not start: mediacollect: ")
    assert "does not match its sha256 in pyodide-lock.json" in shown
    page.evaluate("() => document.getElementById('video').play()")
    page.wait_for_timeout(2000)
    assert page.text_content("#tracker-status") == "error"
    assert tampered.sessions() == []  # none of our Python ran


def test_the_pages_own_errors_are_not_taken_for_pythons(page: Page, emulator: Emulator) -> None:
    """Only an error thrown from the vendored runtime marks start-up as failed: the page's own
    uncaught errors and rejections while Python boots leave the panel alone."""
    page.add_init_script("""addEventListener("DOMContentLoaded", () => {
        Promise.reject(new Error("the page's own rejection"));
        setTimeout(() => { throw new Error("the page's own error"); }, 0);
    });""")
    page.goto(emulator.page_url(BASIC_PAGE))
    wait_ready(page)
    assert page.is_hidden("#tracker-error")
    assert "the page's own" not in (page.text_content("#tracker-error") or "")


FAULTY_MAIN = """
import mediacollect.browser as browser

def broken_bind(*args, **kwargs):
    raise ZeroDivisionError("a fault in binding the player")

browser._bind = broken_bind
browser.auto()
"""


def test_a_fault_while_starting_is_shown_on_the_page(page: Page, emulator: Emulator) -> None:
    """Not a setting (those name the field): a fault of ours while binding the players. The page
    says tracking did not start, instead of reading "loading" for ever."""
    page.route(lambda url: url.endswith("/main.py"),
               lambda route: route.fulfill(body=FAULTY_MAIN, content_type="text/x-python"))
    page.goto(emulator.page_url(BASIC_PAGE))
    page.wait_for_function("document.getElementById('tracker-status').textContent === 'error'")
    page.wait_for_selector("#tracker-error", state="visible")
    assert page.text_content("#tracker-error") == (
        "Python could not start: ZeroDivisionError: a fault in binding the player")


STDLIB_PROBE_MAIN = """
import json, sys, traceback
import js
from pyodide.ffi import create_proxy
from mediacollect.browser import auto

STDLIB = next(path for path in sys.path if path.endswith(".zip"))

def probe():
    origins = {name: module.__spec__.origin for name, module in list(sys.modules.items())
               if (getattr(getattr(module, "__spec__", None), "origin", None) or "").startswith(STDLIB + "/")}
    try:
        json.loads("{")
    except ValueError:
        failure = traceback.format_exc()
    return json.dumps({"stdlib": STDLIB, "origins": origins, "traceback": failure})

js.mediacollectStdlibProbe = create_proxy(probe)
auto()
"""


def test_python_starts_from_the_compiled_standard_library(page: Page, emulator: Emulator) -> None:
    """Every stdlib module imported by the time the first session is tracked (Pyodide's set-up,
    PyScript's package and ours) came from the bytecode the build compiled; the zip
    is fetched compressed and stdlib tracebacks still show their source lines."""
    fetched: dict[str, str | None] = {}
    page.on("response", lambda response: fetched.__setitem__(response.url, response.headers.get("content-encoding")))
    page.route(lambda url: url.endswith("/main.py"),
               lambda route: route.fulfill(body=STDLIB_PROBE_MAIN, content_type="text/x-python"))
    emulator.reset()
    page.goto(emulator.page_url(BASIC_PAGE))
    wait_ready(page)
    page.unroute_all()  # a route's predicate runs in this process: none may wait on it below
    press_play(page)
    wait_for(lambda: emulator.sessions(), timeout=10)

    stdlib = [(url, encoding) for url, encoding in fetched.items() if "/python_stdlib" in url]
    assert len(stdlib) == 1, stdlib
    (url, encoding), = stdlib
    assert re.search(r"/vendor/pyodide-[^/]+/python_stdlib-[0-9a-f]{12}\.zip$", url) and encoding == "br", stdlib
    worker = next(w for w in page.workers if w.evaluate("typeof globalThis.mediacollectStdlibProbe") == "function")
    probe = json.loads(worker.evaluate("globalThis.mediacollectStdlibProbe()"))
    origins: dict[str, str] = probe["origins"]
    assert {"asyncio", "json", "html", "pathlib", "encodings.utf_8"} <= set(origins)  # Pyodide's, PyScript's
    assert len(origins) > 100
    from_source = sorted(name for name, origin in origins.items() if not origin.endswith(".pyc"))
    assert from_source == []
    # Tracebacks name the file as a source import would, with its line.
    assert f'File "{probe["stdlib"]}/json/decoder.py", line ' in probe["traceback"]
    assert "obj, end = self.scan_once(s, idx)" in probe["traceback"]
