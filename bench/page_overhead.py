"""What the tracker costs the page, against baselines measured in the same run.

    .venv/bin/python bench/page_overhead.py [--runs 5] [--playback 120]

Headless Debian Chromium (Playwright), pages served by the emulator on loopback. Prints one
table: medians (min–max) over the runs. Baselines: ``bench/pages/baseline-pyodide.html``
(plain ``loadPyodide()`` from the same vendored files), the same in a worker (and again with the
compiled stdlib our interpreter module starts from, generated on every run), and
``bench/pages/baseline-pyscript-worker.html`` (PyScript in a worker running one line) for
start-up, and the demo page itself with its tracker swapped for one line of Python (the same
markup, video, styles and runtime set-up), measured in turn run after run; and
``bench/pages/control-fetch.html`` (a JS ``fetch`` from the play handler) for play → wire.
Long tasks at start-up are also counted on the demo page with its tracking taken out (the same
markup, video and styles; no shim, PyScript or Python), over the same time from navigation as
the tracked page took to be ready in that run: what the page costs without us.
Cold = a new profile; warm = a reload in the same profile: the return visit, with the HTTP cache,
the browser's compiled wasm and, on our page, the start-up snapshot the first visit stored
(docs/architecture.md). The baselines have no snapshot: plain ``loadPyodide()`` is the floor a
page without one starts from.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, Emulator, compiled_stdlib, start_emulator, stop_emulator

# Collects long tasks and the moment #tracker-status first reads "ready", from navigation on.
OBSERVE = """
(() => {
  window.benchLongTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.benchLongTasks.push({start: e.startTime, duration: e.duration});
  }).observe({type: "longtask", buffered: true});
  const check = () => {
    const el = document.getElementById("tracker-status");
    if (el && el.textContent === "ready" && window.benchReadyAt === undefined) window.benchReadyAt = performance.now();
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


# The demo page with its tracker swapped for one line of Python: the same markup, video, styles,
# shim, PyScript set-up, interpreter module and wheels. Ours against it is what our Python costs;
# it against the PyScript baseline is what the page itself (its video, styles) costs start-up.
ONE_LINE_SCRIPT = """<script type="py" config="/pyscript.toml" worker>
from pyscript import document
document.getElementById("tracker-status").textContent = "ready"
</script>"""
TRACKER_SCRIPT = '<script type="py" src="/main.py" config="/pyscript.toml" worker data-mediacollect></script>'


def write_one_line_page() -> Path:
    """``bench/pages/generated-demo-one-line.html`` (not committed), made from index.html on every
    run."""
    html = (ROOT / "index.html").read_text()
    if TRACKER_SCRIPT not in html:
        raise SystemExit(f"index.html: {TRACKER_SCRIPT} not found; update bench/page_overhead.py")
    path = ROOT / "bench" / "pages" / "generated-demo-one-line.html"
    path.write_text(html.replace(TRACKER_SCRIPT, ONE_LINE_SCRIPT))
    return path


def write_compiled_stdlib_baseline() -> Path:
    """``bench/pages/generated-baseline-pyodide-worker-compiled.html`` (not committed): plain
    ``loadPyodide()`` in a worker, from the compiled stdlib our interpreter module starts from
    (tools/compile_stdlib.mjs). Ours against it is everything but that lever."""
    html = (ROOT / "bench" / "pages" / "baseline-pyodide-worker.html").read_text()
    stdlib = compiled_stdlib()
    found = re.search(r'indexURL: "\$\{location\.origin\}/vendor/(pyodide-[^/]+)/" \}', html)
    if found is None or found[1] != stdlib.parent.name:
        raise SystemExit("baseline-pyodide-worker.html or vendor/ changed; update bench/page_overhead.py")
    option = f'stdLibURL: "${{location.origin}}/vendor/{found[1]}/{stdlib.name}", '
    path = ROOT / "bench" / "pages" / "generated-baseline-pyodide-worker-compiled.html"
    path.write_text(html.replace(found[0], option + found[0]))
    return path


# The lines of a tracked page that bring tracking in: the shim, PyScript (its preloads, styles,
# module and config) and the <script type="py"> that runs our Python.
TRACKING_LINE = re.compile(r'/vendor/|type="py"|pyscript\.toml')


def median_range(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


class Bench:
    def __init__(self, playwright: Playwright, emulator: Emulator, settle: float = 5.0) -> None:
        self.settle = settle
        self.playwright = playwright
        self.emulator = emulator

    def context(self, profile: str) -> BrowserContext:
        ctx = self.playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        ctx.add_init_script(OBSERVE)
        return ctx

    def load(self, page: Page, url: str, sizes: list[int], count: list[int]) -> dict[str, Any]:
        def on_response(response: Any) -> None:
            count.append(1)
            try:
                info = response.request.sizes()
                sizes.append(info["responseBodySize"] + info["responseHeadersSize"])
            except Exception:  # a response the browser discarded (aborted preload...)
                pass

        page.on("response", on_response)
        page.goto(url)
        page.wait_for_function("window.benchReadyAt !== undefined", timeout=120_000)
        result = page.evaluate("""() => ({
            ready: window.benchReadyAt,
            armed: window.mediacollectShim ? window.mediacollectShim.armedAt : null,
            longTasks: window.benchLongTasks.slice(),
        })""")
        page.remove_listener("response", on_response)
        return result

    @staticmethod
    def snapshot_made(page: Page) -> float | None:
        """Wait for a first visit's start-up snapshot: ms from navigation to stored, None if the
        page makes none."""
        started = time.monotonic()
        while time.monotonic() - started < 120:
            states = [w.evaluate("globalThis.mediacollectSnapshot ?? null") for w in page.workers]
            if "stored" in states:
                return float(page.evaluate("performance.now()"))  # an upper bound, to 0.25 s
            if "failed" in states:
                raise SystemExit("the start-up snapshot was not stored (see the console)")
            if not {"waiting", "making"} & set(states):
                return None
            page.wait_for_timeout(250)
        raise SystemExit("the start-up snapshot was not stored within 120 s")

    def startup(self, url: str, runs: int) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {k: [] for k in (
            "cold_ready", "warm_ready", "armed", "cold_bytes", "warm_bytes", "cold_requests", "warm_requests",
            "cold_longtasks", "cold_longtask_ms", "warm_longtasks")}
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as profile:
                ctx = self.context(profile)
                page = ctx.new_page()
                sizes: list[int] = []
                count: list[int] = []
                cold = self.load(page, url, sizes, count)
                # A visitor who comes back: the first visit stayed long enough for the browser to
                # store its compiled wasm (V8 writes its code cache a moment after tiering up) and
                # for our page to store its start-up snapshot (made by a second worker 5 s after
                # Python starts, stored a few seconds later).
                page.wait_for_timeout(self.settle * 1000)
                snapshot = self.snapshot_made(page)
                if snapshot is not None:
                    out.setdefault("snapshot_stored", []).append(snapshot)
                out["cold_ready"].append(cold["ready"])
                out["cold_bytes"].append(sum(sizes) / 1e6)
                out["cold_requests"].append(len(count))
                out["cold_longtasks"].append(len(cold["longTasks"]))
                out["cold_longtask_ms"].append(sum(t["duration"] for t in cold["longTasks"]))
                if cold["armed"] is not None:
                    out["armed"].append(cold["armed"])
                sizes, count = [], []
                warm = self.load(page, url, sizes, count)
                out["warm_ready"].append(warm["ready"])
                out["warm_bytes"].append(sum(sizes) / 1e6)
                out["warm_requests"].append(len(count))
                out["warm_longtasks"].append(len(warm["longTasks"]))
                ctx.close()
        return out

    def untracked_longtasks(self, url: str, seconds: float) -> list[dict[str, float]]:
        """Long tasks of a cold load of the page at ``url`` with every line that brings tracking
        in (the shim, PyScript and its preloads, our Python) taken out, over ``seconds``."""
        html = self.emulator_text(url)
        untracked = "\n".join(line for line in html.splitlines() if not TRACKING_LINE.search(line))
        if untracked == html:
            raise SystemExit(f"{url}: no tracking found to take out of the page")
        with tempfile.TemporaryDirectory() as profile:
            ctx = self.context(profile)
            page = ctx.new_page()
            page.route(lambda address: address == url,
                       lambda route: route.fulfill(body=untracked, content_type="text/html; charset=utf-8"))
            page.goto(url)
            page.wait_for_timeout(seconds * 1000)
            tasks: list[dict[str, float]] = page.evaluate("() => window.benchLongTasks.slice()")
            ctx.close()
        return tasks

    @staticmethod
    def emulator_text(url: str) -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode("utf-8"))

    def play_to_wire(self, url: str, runs: int, presses: int = 1) -> list[float]:
        """ms from the play press (Date.now() in the page) to the emulator receiving sessionStart."""
        latencies: list[float] = []
        for _ in range(runs):
            self.emulator.reset()
            with tempfile.TemporaryDirectory() as profile:
                ctx = self.context(profile)
                page = ctx.new_page()
                self.load(page, url, [], [])
                page.wait_for_timeout(1500)  # let start-up work settle: measure the steady state
                pressed = page.evaluate("() => { const t = Date.now(); document.getElementById('video').play();"
                                        " return t; }")
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    starts = [r for r in self.emulator.get("/_emulator/requests") if r["path"] == "/api/v1/sessions"]
                    if starts:
                        latencies.append(starts[0]["received_at"] * 1000 - pressed)
                        break
                    time.sleep(0.02)
                ctx.close()
        return latencies

    def long_playback(self, url: str, seconds: float) -> dict[str, float]:
        """Long tasks on the main thread over a playback with pings, pauses and seeks."""
        with tempfile.TemporaryDirectory() as profile:
            ctx = self.context(profile)
            page = ctx.new_page()
            self.load(page, url, [], [])
            page.evaluate("() => { const v = document.getElementById('video'); v.loop = true; v.play(); }")
            started = time.monotonic()
            step = 0
            while time.monotonic() - started < seconds:
                page.wait_for_timeout(5000)
                step += 1
                if step % 3 == 0:
                    page.evaluate("() => { const v = document.getElementById('video');"
                                  " v.currentTime = (v.currentTime + 7) % 25; }")
                if step % 5 == 0:
                    page.evaluate("() => document.getElementById('video').pause()")
                    page.wait_for_timeout(1000)
                    page.evaluate("() => document.getElementById('video').play()")
            tasks = page.evaluate("() => window.benchLongTasks.slice()")
            requests = page.locator("#request-log .request").count()
            ctx.close()
        return {"count": len(tasks), "total_ms": sum(t["duration"] for t in tasks),
                "after_ready": len(tasks), "requests": requests}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--playback", type=float, default=120.0, help="seconds of playback for the long-task run")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds on the page after the cold load, before the warm reload (and "
                             "until the start-up snapshot is stored, on pages that make one)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        emulator = start_emulator(Path(tmp))
        try:
            with sync_playwright() as playwright:
                bench = Bench(playwright, emulator, args.settle)
                ours_url = emulator.page_url()
                base_url = f"{emulator.site}/bench/pages/baseline-pyodide.html"
                control_url = f"{emulator.site}/bench/pages/control-fetch.html?endpoint={emulator.endpoint}"
                one_line = write_one_line_page().relative_to(ROOT).as_posix()
                compiled = write_compiled_stdlib_baseline().relative_to(ROOT).as_posix()
                pages = {"ours": ours_url, "base": base_url,
                         "base_worker": f"{emulator.site}/bench/pages/baseline-pyodide-worker.html",
                         "base_compiled": f"{emulator.site}/{compiled}",
                         "pyscript": f"{emulator.site}/bench/pages/baseline-pyscript-worker.html",
                         "one_line": emulator.page_url(f"/{one_line}")}
                # Interleaved (ours, then each baseline, run after run): the VM's speed drifts by
                # more than the differences measured, and each ratio must compare like with like.
                startups: dict[str, dict[str, list[float]]] = {}
                untracked: list[list[dict[str, float]]] = []
                for _ in range(args.runs):
                    for name, url in pages.items():
                        for key, values in bench.startup(url, 1).items():
                            startups.setdefault(name, {}).setdefault(key, []).extend(values)
                    untracked.append(bench.untracked_longtasks(ours_url, startups["ours"]["cold_ready"][-1] / 1000))
                ours, base, base_worker, base_compiled, pyscript, one_line_page = (startups[name] for name in pages)
                wire_ours = bench.play_to_wire(ours_url, args.runs)
                wire_js = bench.play_to_wire(control_url, args.runs)
                playback = bench.long_playback(ours_url, args.playback) if args.playback > 0 else {}
        finally:
            stop_emulator(emulator)

    ratio: Callable[[list[float], list[float]], str] = lambda a, b: (  # noqa: E731
        f"{statistics.median(a) / statistics.median(b):.2f}" if a and b else "n/a")
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# page overhead — {time.strftime('%Y-%m-%d')}, {platform.node()}, {platform.machine()}, "
          f"{chromium}, runs={args.runs}")
    print("| measure | mediacollect page | baseline | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| capture armed (ms from navigation) | {median_range(ours['armed'])} | | |")
    print(f"| ready, cold (ms) | {median_range(ours['cold_ready'])} | {median_range(base['cold_ready'])} "
          f"(loadPyodide) | {ratio(ours['cold_ready'], base['cold_ready'])} |")
    print(f"| ready, warm (ms) | {median_range(ours['warm_ready'])} | {median_range(base['warm_ready'])} "
          f"(loadPyodide) | {ratio(ours['warm_ready'], base['warm_ready'])} |")
    print(f"| first visit: start-up snapshot stored (ms from navigation, polled after --settle) "
          f"| {median_range(ours.get('snapshot_stored', []))} | | |")
    print(f"| ready, cold (ms), worker baseline | | {median_range(base_worker['cold_ready'])} "
          f"(loadPyodide in a worker) | {ratio(ours['cold_ready'], base_worker['cold_ready'])} |")
    print(f"| ready, warm (ms), worker baseline | | {median_range(base_worker['warm_ready'])} "
          f"(loadPyodide in a worker) | {ratio(ours['warm_ready'], base_worker['warm_ready'])} |")
    print(f"| ready, cold (ms), worker baseline with the compiled stdlib | | "
          f"{median_range(base_compiled['cold_ready'])} (loadPyodide in a worker, stdLibURL) "
          f"| {ratio(ours['cold_ready'], base_compiled['cold_ready'])} |")
    print(f"| ready, warm (ms), worker baseline with the compiled stdlib | | "
          f"{median_range(base_compiled['warm_ready'])} (loadPyodide in a worker, stdLibURL) "
          f"| {ratio(ours['warm_ready'], base_compiled['warm_ready'])} |")
    print(f"| ready, cold (ms), PyScript baseline | | {median_range(pyscript['cold_ready'])} "
          f"(PyScript worker, one line of Python) | {ratio(ours['cold_ready'], pyscript['cold_ready'])} |")
    print(f"| ready, warm (ms), PyScript baseline | | {median_range(pyscript['warm_ready'])} "
          f"(PyScript worker, one line of Python) | {ratio(ours['warm_ready'], pyscript['warm_ready'])} |")
    print(f"| ready, cold (ms), the demo page running one line of Python | | "
          f"{median_range(one_line_page['cold_ready'])} | {ratio(ours['cold_ready'], one_line_page['cold_ready'])} |")
    print(f"| ready, warm (ms), the demo page running one line of Python | | "
          f"{median_range(one_line_page['warm_ready'])} | {ratio(ours['warm_ready'], one_line_page['warm_ready'])} |")
    print(f"| the page's own share, cold: one line on the demo page / on the PyScript baseline | | | "
          f"{ratio(one_line_page['cold_ready'], pyscript['cold_ready'])} |")
    print(f"| PyScript's own share: its baseline / loadPyodide in a worker, cold / warm | | | "
          f"{ratio(pyscript['cold_ready'], base_worker['cold_ready'])} / "
          f"{ratio(pyscript['warm_ready'], base_worker['warm_ready'])} |")
    print(f"| play → wire after ready (ms) | {median_range(wire_ours)} | {median_range(wire_js)} (JS fetch) "
          f"| {ratio(wire_ours, wire_js)} |")
    print(f"| main-thread long tasks, cold start-up (count / ms) | {median_range(ours['cold_longtasks'])} / "
          f"{median_range(ours['cold_longtask_ms'])} | {median_range(base['cold_longtasks'])} / "
          f"{median_range(base['cold_longtask_ms'])} | |")
    print(f"| main-thread long tasks, cold start-up, the demo page without tracking (count / ms) "
          f"| {median_range([len(tasks) for tasks in untracked])} / "
          f"{median_range([sum(t['duration'] for t in tasks) for tasks in untracked])} | | |")
    if playback:
        print(f"| main-thread long tasks, start-up + {args.playback:.0f} s playback with pings, seeks, pauses "
              f"| {playback['count']} ({playback['total_ms']:.0f} ms), {playback['requests']} requests tracked "
              f"| | |")
    print(f"| bytes transferred, cold (kB) | {median_range([b * 1000 for b in ours['cold_bytes']])} "
          f"| {median_range([b * 1000 for b in base['cold_bytes']])} "
          f"| {ratio(ours['cold_bytes'], base['cold_bytes'])} |")
    print(f"| bytes transferred, warm reload (kB) | {median_range([b * 1000 for b in ours['warm_bytes']])} "
          f"| {median_range([b * 1000 for b in base['warm_bytes']])} | |")
    print(f"| requests, cold / warm | {median_range(ours['cold_requests'])} / {median_range(ours['warm_requests'])} "
          f"| {median_range(base['cold_requests'])} / {median_range(base['warm_requests'])} | |")
    if args.json:
        args.json.write_text(json.dumps({"ours": ours, "baseline": base, "baseline_worker": base_worker,
                                         "baseline_worker_compiled_stdlib": base_compiled,
                                         "baseline_pyscript": pyscript, "demo_one_line": one_line_page,
                                         "untracked_longtasks": untracked, "wire_ours": wire_ours,
                                         "wire_js": wire_js, "playback": playback}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
