"""How long one big offline batch holds up everyone else: a player pings the emulator one
request after the other while another client posts a 20,000-event session to /api/v1/downloaded.

    .venv/bin/python bench/emulator_batch.py
    .venv/bin/python bench/emulator_batch.py --root /tmp/other-checkout   # the emulator of another commit

Reports the pings' latency before the batch and while it was in flight (p50, p99, max: the
longest stall), and the batch's own answer time. Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.emulator_load import SESSION_PARAMS, T0  # noqa: E402
from tests.helpers import free_port  # noqa: E402

START = {"playerTime": {"playhead": 0, "ts": T0}, "eventType": "sessionStart", "params": SESSION_PARAMS}
JSON = {"Content-Type": "application/json"}


def batch(events: int) -> bytes:
    body = [{**START, "params": {**SESSION_PARAMS, "media.downloaded": True}}]
    body += [{"playerTime": {"playhead": float(i), "ts": T0 + 1000 * i}, "eventType": "play" if i == 1 else "ping"}
             for i in range(1, events)]
    return json.dumps(body).encode()


def run(root: Path, events: int) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        emulator = subprocess.Popen(
            [sys.executable, "-m", "mediacollect_emulator", "--no-site", "--api-port", str(port), "--db",
             str(Path(tmp) / "batch.sqlite3"), "--log-level", "warning"], cwd=root)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/config", timeout=1).read()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the emulator did not start"
                    time.sleep(0.05)
            pinger = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            pinger.request("POST", "/api/v1/sessions", json.dumps(START), JSON)
            response = pinger.getresponse()
            response.read()
            events_path = response.getheader("Location", "") + "/events"
            in_flight = threading.Event()
            done = threading.Event()
            before: list[float] = []
            during: list[float] = []
            took: list[float] = []

            def post_batch() -> None:
                body = batch(events)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                time.sleep(1.0)  # a second of pings before it
                started = time.perf_counter()
                in_flight.set()
                connection.request("POST", "/api/v1/downloaded", body, JSON)
                answer = connection.getresponse()
                answer.read()
                took.append(time.perf_counter() - started)
                assert answer.status == 201, answer.status
                done.set()

            thread = threading.Thread(target=post_batch)
            thread.start()
            step = 0
            while not done.is_set():
                step += 1
                body = json.dumps({"playerTime": {"playhead": float(step), "ts": T0 + step}, "eventType": "ping"})
                started = time.perf_counter()
                pinger.request("POST", events_path, body, JSON)
                answer = pinger.getresponse()
                answer.read()
                (during if in_flight.is_set() else before).append(time.perf_counter() - started)
                assert answer.status == 204, answer.status
            thread.join()
        finally:
            emulator.terminate()
            emulator.wait(30)

    def ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"batch_s": round(took[0], 2), "pings_before": len(before), "before_p50_ms": ms(before, 0.5),
            "pings_during": len(during), "during_p50_ms": ms(during, 0.5), "during_p99_ms": ms(during, 0.99),
            "during_max_ms": round(1000 * max(during), 1), "mean_ms": round(1000 * statistics.mean(during), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose emulator runs (default: this one)")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.runs):
        print(json.dumps(run(args.root.resolve(), args.events)), flush=True)


if __name__ == "__main__":
    main()
