"""Per-event cost of the tracker core, and its memory after a long simulated viewing.

    .venv/bin/python bench/core_cost.py            # CPython
    node bench/pyodide_run.mjs bench/core_cost.py  # Pyodide (the runtime the page's worker uses)

Per event: one player observation turned into a sent request and its 204 fed back
(Tracker.observe -> Outbox.push -> next_request -> on_response), median over repeats.
Memory: tracemalloc after 10 simulated minutes of playback (pings every 10 s, a pause and a
seek every minute) with every request answered at once; nothing may accumulate.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mediacollect import MediaConfig, Observation, Outbox, PlayerEvent, Tracker, TrackerConfig
from mediacollect.transport import HttpResponse

CONFIG = TrackerConfig(endpoint="http://127.0.0.1:8001", tracking_server="t.example", report_suite="rs",
                       org_id="ORG@AdobeOrg", channel="web", player_name="html5")
MEDIA = MediaConfig(id="bench", length=3600.0)
CREATED = HttpResponse(201, {"location": "/api/v1/sessions/abc"})
ACCEPTED = HttpResponse(204, {})
T0 = 1_700_000_000_000


def deliver(outbox: Outbox, now: int) -> int:
    sent = 0
    while (request := outbox.next_request(now)) is not None:
        outbox.on_response(CREATED if request.url.endswith("/sessions") else ACCEPTED, now)
        sent += 1
    return sent


def per_event_us(events: int = 2000, repeats: int = 7) -> list[float]:
    results = []
    for _ in range(repeats):
        tracker, outbox = Tracker(CONFIG, MEDIA), Outbox(CONFIG.api_base, rand=lambda: 0.5)
        outbox.push(tracker.observe(Observation(PlayerEvent.PLAY, T0, 0.0)))
        deliver(outbox, T0)
        now, playhead = T0 + 10, 0.0
        started = time.perf_counter()
        for i in range(events):  # alternate pause / resume: each observation is one request
            kind = PlayerEvent.PAUSE if i % 2 else PlayerEvent.PLAYING
            outbox.push(tracker.observe(Observation(kind, now, playhead, paused=kind is PlayerEvent.PAUSE)))
            deliver(outbox, now)
            now += 50
            playhead += 0.05
        results.append((time.perf_counter() - started) / events * 1e6)
    return results


def memory_after_minutes(minutes: int = 10) -> dict[str, int]:
    tracemalloc.start()
    tracker, outbox = Tracker(CONFIG, MEDIA), Outbox(CONFIG.api_base, rand=lambda: 0.5)
    baseline = tracemalloc.get_traced_memory()[0]
    now = T0
    outbox.push(tracker.observe(Observation(PlayerEvent.PLAY, now, 0.0)))
    outbox.push(tracker.observe(Observation(PlayerEvent.PLAYING, now + 100, 0.0)))
    sent = deliver(outbox, now)
    end = T0 + minutes * 60_000
    while (deadline := tracker.next_deadline) is not None and deadline <= end:
        now = deadline
        outbox.push(tracker.tick(now))
        if (now - T0) % 60_000 == 30_000:  # a pause, a seek and a resume every minute
            position = tracker.playhead_at(now)
            for kind, extra in ((PlayerEvent.PAUSE, 0), (PlayerEvent.SEEKING, 5), (PlayerEvent.SEEKED, 10)):
                outbox.push(tracker.observe(Observation(kind, now + extra, position, paused=True)))
            outbox.push(tracker.observe(Observation(PlayerEvent.PLAYING, now + 1000, position)))
        sent += deliver(outbox, now)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"requests": sent, "retained_bytes": current - baseline, "peak_bytes": peak - baseline,
            "queued": len(outbox)}


def main() -> None:
    costs = per_event_us()
    memory = memory_after_minutes()
    print(json.dumps({
        "runtime": f"{platform.python_implementation()} {platform.python_version()} {sys.platform}",
        "per_event_us_median": round(statistics.median(costs), 1),
        "per_event_us_min": round(min(costs), 1),
        "per_event_us_max": round(max(costs), 1),
        **memory,
    }))


if __name__ == "__main__":
    main()
