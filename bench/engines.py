"""Start-up in each browser engine: where Python runs, when the tracker is ready, and how long
the page's main thread was blocked meanwhile.

    .venv/bin/python bench/engines.py [--runs 5] [--engines chromium,firefox,webkit,webkit-sab]

The demo's one-player page (``examples/basic.html``) with a heartbeat first in ``<head>``
(``bench/pages/generated-heartbeat-basic.html``, written on every run, not committed): a timer
every 10 ms on the main thread; a tick that comes late by more than its 10 ms is the main
thread having been blocked that long. WebKit has no Long Tasks API, so the heartbeat serves
every engine alike. Each run is a cold load in a new profile, against the emulator, served the
headers the site gives that engine (WebKit: COEP require-corp). ``webkit-sab`` is WebKitGTK with
JavaScriptCore's SharedArrayBuffer on, as Safari has it for isolated pages. Prints medians
(min–max) as a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright

from tests.browser.engines import ChromiumEngine, FirefoxEngine, WebKitEngine, virtual_display, wait_until
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, start_emulator, stop_emulator

PAGE = "bench/pages/generated-heartbeat-basic.html"
SHIM = '<script src="/vendor/mediacollect-0.1.0/shim.js"></script>'
# Until 1 s after ready: the longest late tick, the sum of late ticks over 50 ms, and when the
# panel first read "ready" (ms from navigation start).
HEARTBEAT = """<script>
(() => {
  const beat = window.__heartbeat = {longest: 0, blocked: 0, readyAt: null};
  let last = performance.now();
  const tick = () => {
    const now = performance.now(), late = now - last - 10;
    last = now;
    beat.longest = Math.max(beat.longest, late);
    if (late > 50) beat.blocked += late;
    if (beat.readyAt === null && document.getElementById("tracker-status")?.textContent === "ready") beat.readyAt = now;
    if (beat.readyAt === null || now - beat.readyAt < 1000) setTimeout(tick, 10);
    else beat.done = true;
  };
  setTimeout(tick, 10);
})();
</script>"""


def write_page() -> None:
    html = (ROOT / "examples" / "basic.html").read_text()
    if SHIM not in html:
        raise SystemExit(f"examples/basic.html: {SHIM} not found; update bench/engines.py")
    (ROOT / PAGE).write_text(html.replace(SHIM, HEARTBEAT + "\n  " + SHIM))


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def measure(engine: Any, url: str) -> dict[str, Any]:
    try:
        engine.goto(url)
        beat = wait_until(engine, "window.__heartbeat.done && window.__heartbeat", 120)
        worker = engine.evaluate("return document.querySelector('script[type=py]').hasAttribute('worker')")
        return {**beat, "mode": "worker" if worker else "main thread", "version": engine.version}
    finally:
        engine.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engines", default="chromium,firefox,webkit,webkit-sab")
    args = parser.parse_args(argv)
    write_page()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name, sync_playwright() as playwright, virtual_display() as display:
        tmp = Path(tmp_name)
        emulator = start_emulator(tmp)
        chromium = None
        try:
            url = emulator.page_url("/" + PAGE)
            for name in args.engines.split(","):
                for run in range(args.runs):
                    if name == "chromium":
                        chromium = chromium or playwright.chromium.launch(executable_path=CHROMIUM,
                                                                          args=CHROMIUM_ARGS)
                        engine: Any = ChromiumEngine(chromium)
                    elif name == "firefox":
                        engine = FirefoxEngine(tmp / f"firefox-{run}")
                    else:
                        engine = WebKitEngine(display, shared_array_buffer=name == "webkit-sab")
                    results.setdefault(name, []).append(measure(engine, url))
                    print(name, run, results[name][-1], file=sys.stderr, flush=True)
        finally:
            if chromium:
                chromium.close()
            stop_emulator(emulator)
    print(f"{args.runs} cold loads each, median (min–max), ms from navigation start\n")
    print("| engine | version | mode | ready | longest main-thread block | blocked in total (>50 ms) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, runs in results.items():
        modes = sorted({r["mode"] for r in runs})
        print(f"| {name} | {runs[0]['version']} | {'/'.join(modes)} | {median_range([r['readyAt'] for r in runs])} | "
              f"{median_range([r['longest'] for r in runs])} | {median_range([r['blocked'] for r in runs])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
