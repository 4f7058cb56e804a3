"""The start-up snapshot: a return visit starts Python from a memory snapshot of the fresh
interpreter, kept in the browser's Cache Storage by the first visit (mediacollect/pyodide.mjs).

Every other browser test runs in a new profile, so they all exercise the first visit (a normal
start, with the snapshot made in a worker of its own a few seconds later); these tests come back."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Worker

from tests.browser.conftest import press_play, wait_ready
from tests.helpers import BASIC_PAGE, ROOT, Emulator, compiled_stdlib, wait_for

SNAPSHOT_CACHES = "mediacollect-startup-snapshot"
PYODIDE_VERSION = json.loads((ROOT / "package.json").read_text())["dependencies"]["pyodide"]

# Python of a test page: what a restored interpreter must not carry over from the snapshot's.
PROBE_MAIN = """
import json, random, sys
from pyscript import document
document.title = json.dumps({"path": sys.path[:2], "random": random.random()})
print("probe: stdout")
print("probe: stderr", file=sys.stderr)
from mediacollect.browser import auto
auto()
"""


# The snapshot is made 5 s after a fresh start (MAKE_AFTER_MS), by an interpreter that takes a
# few seconds more to start.
STORED_WITHIN_S = 30


def python_worker(page: Page) -> Worker:
    """The worker that runs Python: the one where the interpreter module says how it started."""
    def found() -> Worker | None:
        return next((worker for worker in page.workers
                     if worker.evaluate("globalThis.mediacollectStartup ?? null") is not None), None)

    worker: Worker = wait_for(found, timeout=10)
    return worker


def worker_global(page: Page, name: str) -> str:
    """A global the interpreter module sets in the worker that runs Python."""
    return str(python_worker(page).evaluate(f"globalThis.{name} ?? null"))


def startup(page: Page) -> str:
    """How the interpreter module started Python: "fresh", "restored" or "off"."""
    return worker_global(page, "mediacollectStartup")


def stored_snapshots(page: Page) -> dict[str, int]:
    """The snapshot entries in the page's Cache Storage: cache name → bytes."""
    return dict(page.evaluate(
        """async (prefix) => {
            const found = {};
            for (const name of await caches.keys()) {
                if (!name.startsWith(prefix)) continue;
                const cache = await caches.open(name);
                for (const request of await cache.keys()) {
                    found[name] = (await (await cache.match(request)).arrayBuffer()).byteLength;
                }
            }
            return found;
        }""", SNAPSHOT_CACHES))


def visit(page: Page, url: str, first: bool) -> None:
    """The first visit, or a return to the same page, until the tracker is ready."""
    if first:
        page.goto(url)
    else:
        page.reload()
    wait_ready(page)


def wait_stored(page: Page) -> dict[str, int]:
    stored: dict[str, int] = wait_for(lambda: stored_snapshots(page), timeout=STORED_WITHIN_S)
    return stored


def test_a_return_visit_starts_from_the_snapshot_and_tracks(page: Page, fresh: Emulator) -> None:
    messages: list[str] = []  # warnings and errors
    page.on("console", lambda message: messages.append(message.text) if message.type in ("warning", "error") else None)
    page.on("pageerror", lambda error: messages.append(str(error)))

    # A snapshot an older Pyodide left behind, in the same origin.
    page.goto(f"{fresh.site}/bench/pages/control-fetch.html")  # same origin, no Python
    page.evaluate("async (name) => (await caches.open(name)).put('/old', new Response('old'))",
                  f"{SNAPSHOT_CACHES}-0.0.1")
    assert stored_snapshots(page) == {f"{SNAPSHOT_CACHES}-0.0.1": 3}

    page.goto(fresh.page_url())
    wait_ready(page)
    assert startup(page) == "fresh"
    assert stored_snapshots(page) == {f"{SNAPSHOT_CACHES}-0.0.1": 3}  # not made during start-up
    # A snapshot holds offsets into the stdlib zip it was made with: one cache per compiled zip.
    current = f"{SNAPSHOT_CACHES}-{PYODIDE_VERSION}-{compiled_stdlib().stem.removeprefix('python_stdlib-')}"
    stored = wait_for(lambda: (found := stored_snapshots(page)) and current in found and found,
                      timeout=STORED_WITHIN_S)
    assert list(stored) == [current]  # the old one is gone
    assert stored[current] > 10_000_000  # the interpreter's memory
    assert wait_for(lambda: worker_global(page, "mediacollectSnapshot") == "stored", timeout=5)

    page.reload()
    wait_ready(page)
    assert startup(page) == "restored"
    pressed = press_play(page)
    sessions = wait_for(lambda: (found := fresh.sessions())
                        and "play" in [e["body"]["eventType"] for e in found[0]["events"]] and found, timeout=10)
    assert len(sessions) == 1  # only the return visit played
    events = sessions[0]["events"]
    start = events[0]["body"]
    assert start["eventType"] == "sessionStart"
    assert abs(start["playerTime"]["ts"] - pressed["ts"]) <= 50
    assert "play" in [e["body"]["eventType"] for e in events[1:]]
    # Neither visit nor the snapshot's worker complained.
    assert messages == []


def test_a_restored_interpreter_has_its_own_random_numbers_and_the_pages_output(
        page: Page, emulator: Emulator) -> None:
    printed: list[str] = []
    page.on("console", lambda message: printed.append(message.text) if message.text.startswith("probe:") else None)
    page.route(lambda url: url.endswith("/main.py"),
               lambda route: route.fulfill(body=PROBE_MAIN, content_type="text/x-python"))
    seen = []
    for first in (True, False, False):
        visit(page, emulator.page_url(BASIC_PAGE), first)
        seen.append((startup(page), json.loads(page.title())))
        # PyScript's stdout and stderr reach the console: the snapshot was made with Pyodide's
        # default streams, the restore takes the page's.
        wait_for(lambda: len(printed) == 2 * len(seen), timeout=5)
        if first:
            wait_stored(page)
    assert [how for how, _ in seen] == ["fresh", "restored", "restored"]
    assert printed == ["probe: stdout", "probe: stderr"] * 3
    restored = [probe for how, probe in seen if how == "restored"]
    # Both return visits start from the same memory, yet draw different numbers.
    assert restored[0]["random"] != restored[1]["random"]
    # Pyodide's set-up ran in the snapshot's interpreter and again after the restore; the
    # working directory is on sys.path once.
    assert all(probe["path"][:2] != ["", ""] for _, probe in seen)


def test_a_damaged_snapshot_is_dropped_and_made_again(page: Page, fresh: Emulator) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(fresh.page_url())
    wait_ready(page)
    (name, size), = wait_stored(page).items()
    page.evaluate(
        """async (name) => {
            const cache = await caches.open(name);
            const [key] = await cache.keys();
            await cache.put(key, new Response(new Uint8Array(1 << 20).fill(7)));  // not a snapshot
        }""", name)
    assert stored_snapshots(page) == {name: 1 << 20}

    page.reload()
    wait_ready(page)
    assert startup(page) == "fresh"  # it started without it, and makes a new one
    assert any("the start-up snapshot could not be used; starting without it" in m for m in messages)
    wait_for(lambda: stored_snapshots(page).get(name) == size, timeout=STORED_WITHIN_S)
    assert stored_snapshots(page) == {name: size}
    press_play(page)
    wait_for(fresh.sessions, timeout=10)
    assert fresh.sessions()[0]["events"][0]["body"]["eventType"] == "sessionStart"


# Ways the snapshot's worker can fail, put in place in the worker that runs Python before the
# snapshot is started: a browser without nested workers, and a worker script that does not load.
NO_NESTED_WORKERS = """() => {
    globalThis.Worker = class { constructor() { throw new TypeError("Worker is not defined"); } };
}"""
MISSING_WORKER_SCRIPT = """() => {
    const Real = globalThis.Worker;
    globalThis.Worker = class extends Real {
        constructor(url, options) { super(new URL("missing.mjs", url), options); }
    };
}"""


@pytest.mark.parametrize("breakage", [NO_NESTED_WORKERS, MISSING_WORKER_SCRIPT],
                         ids=["no-nested-workers", "missing-script"])
def test_a_snapshot_that_cannot_be_made_is_reported_and_changes_nothing_else(
        page: Page, fresh: Emulator, breakage: str) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text) if message.type == "warning" else None)
    page.goto(fresh.page_url())
    wait_ready(page)
    assert startup(page) == "fresh"
    python = python_worker(page)
    assert python.evaluate("globalThis.mediacollectSnapshot") == "waiting"
    python.evaluate(breakage)
    assert wait_for(lambda: python.evaluate("globalThis.mediacollectSnapshot") == "failed", timeout=STORED_WITHIN_S)
    assert [m for m in messages if m.startswith("mediacollect: start-up snapshot not stored")]
    assert stored_snapshots(page) == {}
    pressed = press_play(page)
    start = wait_for(lambda: (found := fresh.sessions()) and found[0]["events"] and found[0]["events"][0]["body"],
                     timeout=10)
    assert start["eventType"] == "sessionStart"
    assert abs(start["playerTime"]["ts"] - pressed["ts"]) <= 50


def test_the_no_snapshot_interpreter_keeps_nothing(page: Page, emulator: Emulator) -> None:
    """`pyodide-no-snapshot.mjs` as pyscript.toml's interpreter: nothing in Cache Storage."""
    site_toml = (ROOT / "pyscript.toml").read_text()
    toml = site_toml.replace("/pyodide.mjs", "/pyodide-no-snapshot.mjs")
    assert toml != site_toml
    page.route(lambda url: url.endswith("/pyscript.toml"),
               lambda route: route.fulfill(body=toml, content_type="application/toml"))
    workers: list[str] = []
    page.on("worker", lambda worker: workers.append(worker.url))
    for first in (True, False):
        visit(page, emulator.page_url(BASIC_PAGE), first)
        assert startup(page) == "off"
        # Nothing scheduled one: the only way to a snapshot sets this the moment Python has started.
        assert worker_global(page, "mediacollectSnapshot") == "None"
        assert stored_snapshots(page) == {}
    assert workers and not [url for url in workers if url.endswith("/snapshot-worker.mjs")]

