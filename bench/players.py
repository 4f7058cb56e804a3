"""What tracking costs while an adaptive player plays.

    .venv/bin/python bench/players.py [--playback 120] [--per-player 30]

Headless Debian Chromium (Playwright), the emulator's site on loopback, the ffmpeg streams of
tests/streams.py. Two measurements:

1. Main-thread long tasks while hls.js plays the live stream (ffmpeg writing it in real time)
   for ``--playback`` seconds, counted from the first frame: on examples/live.html as it is, and
   on the same page with every line that brings tracking in taken out (the shim, PyScript, our
   Python and players.js): the baseline of the page and the player alone. Long animation frames
   (the LoAF API) name the scripts that ran in each; the column "ours" sums those from our files
   (shim.js, players.js, PyScript's runtime and the worker's answers to it).
2. The worker's cost per record: each player's page played for ``--per-player`` seconds with a
   forced rendition switch halfway, Python's handling of every shim record timed in the worker
   (``ShimLink._take``: the player logic, the tracker, the queueing, the panel), by record type. The
   requests its events start leave through the shim, from the page's thread: the worker does not
   wait for them.

Prints two Markdown tables (docs/benchmarks.md "Adaptive players").
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Browser, sync_playwright

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, Emulator, start_emulator, stop_emulator
from tests.streams import STREAMS, LiveStream, ensure_vod

OBSERVE = """
(() => {
  window.benchLongTasks = [];
  window.benchFrames = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.benchLongTasks.push({start: e.startTime, duration: e.duration});
  }).observe({type: "longtask", buffered: true});
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.benchFrames.push({start: e.startTime, duration: e.duration,
      scripts: e.scripts.map((s) => ({url: s.sourceURL, duration: s.duration, invoker: s.invoker}))});
  }).observe({type: "long-animation-frame", buffered: true});
})();
"""
# The lines of a player page that bring tracking in (page_overhead.py's rule, plus players.js).
TRACKING_LINE = re.compile(r'/vendor/(mediacollect|pyscript)|type="py"|pyscript\.toml')
# Without the shim the page's one line (mediacollect.attach) has nothing to call: a no-op stands in.
NO_TRACKING = "window.mediacollect = { attach() {} };"
OURS = re.compile(r"/vendor/(mediacollect|pyscript)-")
TRACKER_SCRIPT = '<script type="py" src="/main.py" config="/pyscript.toml" worker data-mediacollect></script>'
# The same tracker with Page._take timed, by record type; the totals are read from the page.
TIMED_SCRIPT = """<script type="py" config="/pyscript.toml" worker>
import json, time
from pyscript import window
from mediacollect import browser

costs = {}
take = browser.ShimLink._take

def timed(self, record):
    started = time.perf_counter()
    take(self, record)
    costs.setdefault(str(record.get("type")), []).append((time.perf_counter() - started) * 1e6)

browser.ShimLink._take = timed

def publish():
    window.benchWorkerCosts = json.dumps(costs)

browser.auto()
window.benchPublish = __import__("pyodide.ffi", fromlist=["create_proxy"]).create_proxy(publish)
</script>"""
# Forcing a rendition switch, per page (the player is window.player).
SWITCH = {
    "hls": "player.currentLevel = (player.currentLevel + 1) % player.levels.length",
    "dash": "player.updateSettings({streaming: {abr: {autoSwitchBitrate: {video: false}}}});"
            "player.setRepresentationForTypeByIndex('video', 0, true)",
    "videojs": "(() => { const q = player.qualityLevels(); "
               "for (let i = 0; i < q.length; i++) q[i].enabled = i === 0; })()",
}


def page_text(path: str) -> str:
    return (ROOT / path.lstrip("/")).read_text()


def long_tasks(browser: Browser, emulator: Emulator, html: str, seconds: float) -> dict[str, Any]:
    """Play examples/live.html (or the markup ``html`` in its place, when it differs) for
    ``seconds`` from the first frame; long tasks and long animation frames in that window."""
    url = emulator.site + "/examples/live.html"
    emulator.reset()
    with tempfile.TemporaryDirectory():
        ctx = browser.new_context()
        ctx.add_init_script(OBSERVE)
        if TRACKER_SCRIPT not in html:
            ctx.add_init_script(NO_TRACKING)
        page = ctx.new_page()
        if TRACKER_SCRIPT not in html:
            # The page without tracking, served in the tracked one's place.
            page.route(lambda address: address.split("?")[0] == url,
                       lambda route: route.fulfill(status=200, content_type="text/html", body=html,
                                                   headers={"Cross-Origin-Opener-Policy": "same-origin",
                                                            "Cross-Origin-Embedder-Policy": "credentialless"}))
        page.goto(emulator.page_url("/examples/live.html"))
        if TRACKER_SCRIPT in html:
            page.wait_for_function("document.getElementById('tracker-status').textContent === 'ready'",
                                   timeout=120_000)
        page.evaluate("document.querySelector('video[data-mediacollect]').play()")
        page.wait_for_function("document.querySelector('video[data-mediacollect]').currentTime > 0", timeout=60_000)
        began = page.evaluate("performance.now()")
        page.wait_for_timeout(seconds * 1000)
        ended = page.evaluate("performance.now()")
        played = page.evaluate("document.querySelector('video[data-mediacollect]').currentTime")
        tasks = [t for t in page.evaluate("window.benchLongTasks") if began <= t["start"] <= ended]
        frames = [f for f in page.evaluate("window.benchFrames") if began <= f["start"] <= ended]
        ours = [s for f in frames for s in f["scripts"] if OURS.search(s["url"] or "")]
        ctx.close()
    sent = [e["event_type"] for session in emulator.sessions() for e in session["events"]]
    return {"sent": len(sent), "pings": sent.count("ping"), "played": played, "tasks": len(tasks),
            "task_list": [(round((t["start"] - began) / 1000, 1), round(t["duration"])) for t in tasks],
            "frame_list": [(round((f["start"] - began) / 1000, 1), round(f["duration"]),
                            [(s["invoker"], (s["url"] or "").rsplit("/", 1)[-1], round(s["duration"]))
                             for s in f["scripts"]])
                           for f in frames],
            "task_ms": sum(t["duration"] for t in tasks),
            "longest": max((t["duration"] for t in tasks), default=0.0), "frames": len(frames),
            "ours_ms": sum(s["duration"] for s in ours),
            "ours_longest": max((s["duration"] for s in ours), default=0.0)}


def worker_costs(browser: Browser, emulator: Emulator, name: str, seconds: float) -> dict[str, list[float]]:
    html = page_text(f"/examples/{name}.html")
    if TRACKER_SCRIPT not in html:
        raise SystemExit(f"examples/{name}.html: the tracker's script is not as expected; update bench/players.py")
    path = ROOT / "bench" / "pages" / f"generated-players-{name}.html"
    path.write_text(html.replace(TRACKER_SCRIPT, TIMED_SCRIPT))
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(emulator.page_url(f"/bench/pages/{path.name}"))
    page.wait_for_function("document.getElementById('tracker-status').textContent === 'ready'", timeout=120_000)
    page.evaluate("document.querySelector('video[data-mediacollect]').play()")
    page.wait_for_function("document.querySelector('video[data-mediacollect]').currentTime > 0", timeout=60_000)
    page.wait_for_timeout(seconds * 500)
    page.evaluate(SWITCH[name])
    page.wait_for_timeout(seconds * 500)
    page.evaluate("window.benchPublish()")
    page.wait_for_function("window.benchWorkerCosts !== undefined")
    costs: dict[str, list[float]] = json.loads(page.evaluate("window.benchWorkerCosts"))
    ctx.close()
    path.unlink()
    return costs


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(values):.0f} / {p95:.0f} / {max(values):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playback", type=float, default=120.0)
    parser.add_argument("--per-player", type=float, default=30.0)
    args = parser.parse_args()
    ensure_vod()
    tmp = Path(tempfile.mkdtemp())
    emulator = start_emulator(tmp)
    live = LiveStream(STREAMS, "live").start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            tracked = page_text("/examples/live.html")
            untracked = "\n".join(line for line in tracked.splitlines() if not TRACKING_LINE.search(line))
            rows = {"tracked": long_tasks(browser, emulator, tracked, args.playback),
                    "untracked": long_tasks(browser, emulator, untracked, args.playback)}
            costs = {name: worker_costs(browser, emulator, name, args.per_player)
                     for name in ("hls", "dash", "videojs")}
            browser.close()
    finally:
        live.stop()
        stop_emulator(emulator)
    print(f"hls.js playing the live stream for {args.playback:.0f} s (from the first frame):\n")
    print("| page | played (s) | events sent (pings) | long tasks | their total (ms) | longest (ms) | "
          "long frames | ours in them (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {r['played']:.0f} | {r['sent']} ({r['pings']}) | {r['tasks']} | {r['task_ms']:.0f} | "
              f"{r['longest']:.0f} | {r['frames']} | {r['ours_ms']:.0f} |")
    for name, r in rows.items():
        for at, duration in r["task_list"]:
            print(f"- {name}: long task at +{at} s, {duration} ms")
        for at, duration, scripts in r["frame_list"]:
            print(f"- {name}: long frame at +{at} s, {duration} ms; scripts (invoker, file, ms): {scripts}")
    print(f"\nWorker time per shim record, µs (median / p95 / max), {args.per_player:.0f} s of playback "
          "with one forced switch:\n")
    print("| player | records | all | player reports | timeupdate | other media events |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, by_type in costs.items():
        def of(kinds: Callable[[str], bool], by_type: dict[str, list[float]] = by_type) -> list[float]:
            return [cost for kind, values in by_type.items() if kinds(kind) for cost in values]
        every = of(lambda k: True)
        print(f"| {name} | {len(every)} | {cell(every)} | {cell(of(lambda k: k == 'player'))} | "
              f"{cell(of(lambda k: k == 'timeupdate'))} | {cell(of(lambda k: k not in ('player', 'timeupdate')))} |")


if __name__ == "__main__":
    main()
