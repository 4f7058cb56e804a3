"""How much traffic the emulator holds: simulated players against a real emulator on loopback.

    .venv/bin/python bench/emulator_load.py                      # 100, 1000, 10000 players
    .venv/bin/python bench/emulator_load.py --players 1000 --rate 1000 2000 3000 --no-saturated

Each simulated player is what our tracker is on the wire: one keep-alive connection, one request
in flight at a time, ``sessionStart`` then a viewing loop (play, pings, pause, play, pings,
bufferStart, play, ...), every body a valid Media Collection API event. Two measurements per
player count:

* **paced**: the players together offer ``--rate`` events/s (each player sends every
  ``players / rate`` seconds: a real player pings every 10 s, so 5,000 events/s is 50,000
  viewers; with fewer simulated players each one stands for several viewers). Each player's
  phase within its interval is random (seeded by its index), as independent viewers' are.
  Reports the sustained events/s, p50/p99 latency as the players saw it and as the emulator
  saw it (request read to answer written, commit included: ``/_emulator/stats``), the garbage
  collector's passes meanwhile, and the emulator's CPU. The difference between the two
  latencies is the load generator's own scheduling and the loopback, on the same two cores.
* **saturated**: every player sends its next event as soon as the previous answer arrives:
  the most the emulator accepts at that concurrency.

The load generator runs in its own process(es), so on a 2-core machine it takes one core and
the emulator (a single process) the other. Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port  # noqa: E402

T0 = 1_760_000_000_000
SESSION_PARAMS = {
    "analytics.trackingServer": "bench.example", "analytics.reportSuite": "bench-rs",
    "visitor.marketingCloudOrgId": "BENCH@AdobeOrg", "media.id": "bench-clip", "media.length": 3600,
    "media.contentType": "vod", "media.playerName": "bench-player", "media.channel": "bench",
    "media.name": "Bench clip",
}
LOOP = ["play"] + ["ping"] * 8 + ["pauseStart", "play"] + ["ping"] * 8 + ["bufferStart"]


def request_bytes(path: str, body: Mapping[str, object]) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw


def session_start(ts: int) -> bytes:
    """A player's first request (the Python players send it, and open_sessions for wrk)."""
    body = {"playerTime": {"playhead": 0, "ts": ts}, "eventType": "sessionStart", "params": SESSION_PARAMS}
    return request_bytes("/api/v1/sessions", body)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if length:
        await reader.readexactly(length)
    return status, headers


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.refused = 0
        self.reconnects = 0
        self.statuses: dict[int, int] = {}

    def add(self, status: int, seconds: float, measuring: bool) -> None:
        if measuring:
            self.latencies.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 300:
                self.errors += 1


async def player(index: int, port: int, interval: float | None, start_at: float, measure_from: float,
                 stop_at: float, tally: Tally) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:  # the accept queue overflowed (the kernel caps it at net.core.somaxconn)
        tally.refused += 1
        return
    ts = T0 + index * 1000
    playhead = 0.0
    try:
        writer.write(session_start(ts))
        status, headers = await read_response(reader)
        if status != 201:
            tally.errors += 1
            return
        events_path = headers["location"] + "/events"
        step = 0
        # Independent viewers do not ping in step: a random phase, else the ramp's even spacing
        # lines the players up in a few bursts (100 players, 20 ms apart: two bursts of 50).
        next_at = time.monotonic() + (0.0 if interval is None else random.Random(index).uniform(0.0, interval))
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            if interval is not None:
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at += interval
            event_type = LOOP[step % len(LOOP)]
            step += 1
            ts += 1000
            playhead += 1.0
            body = {"playerTime": {"playhead": playhead, "ts": ts}, "eventType": event_type}
            sent = time.monotonic()
            try:
                writer.write(request_bytes(events_path, body))
                status, _ = await read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed the idle connection: reconnect and resend, as a browser does.
                tally.reconnects += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request_bytes(events_path, body))
                status, _ = await read_response(reader)
            done = time.monotonic()
            tally.add(status, done - sent, measure_from <= sent < stop_at)
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        tally.errors += 1
    finally:
        writer.close()


def generator(port: int, indices: range, interval: float | None, ramp: float, warmup: float, seconds: float,
              epoch: float, out: multiprocessing.Queue[tuple[list[float], int, dict[int, int], float, int]]) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    async def run() -> Tally:
        tally = Tally()
        base = time.monotonic() + (epoch - time.time())
        measure_from = base + ramp + warmup
        stop_at = measure_from + seconds
        count = len(indices)
        await asyncio.gather(*(
            player(i, port, interval, base + ramp * (n / max(1, count)), measure_from, stop_at, tally)
            for n, i in enumerate(indices)
        ))
        return tally

    cpu0 = time.process_time()
    tally = asyncio.run(run())
    out.put((tally.latencies, tally.errors, tally.statuses, time.process_time() - cpu0, tally.refused))


def cpu_seconds(pid: int) -> float:
    """CPU time of the emulator and its children (the SQLite writer process)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending += [int(child) for child in children]
    return total


def server_stats(port: int) -> dict[str, Any]:
    """The emulator's own figures: its cumulative histogram of answer times (0.1 ms buckets) and
    its garbage collector's passes; empty when it is too busy to answer within 30 s (10,000
    saturating players queue ahead of this request)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/stats", timeout=30) as response:
            reading = json.load(response)
    except OSError:
        return {}
    return {"answers": {int(bucket): count for bucket, count in reading["answer_times"]["counts"].items()},
            "gc_passes": reading["gc"]["collections"]}


def histogram_percentile(before: dict[int, int], after: dict[int, int], q: float) -> float:
    """A percentile in ms of the answers between two readings."""
    window = sorted((bucket, after[bucket] - before.get(bucket, 0)) for bucket in after)
    total = sum(count for _, count in window)
    if not total:
        return float("nan")
    seen = 0
    for bucket, count in window:
        seen += count
        if seen > q * total:
            return (bucket + 1) * 0.1  # the bucket's upper edge
    return window[-1][0] * 0.1


def server_figures(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    if not before or not after:
        return {"server_p50_ms": float("nan"), "server_p99_ms": float("nan"), "gc_passes": float("nan")}
    return {"server_p50_ms": histogram_percentile(before["answers"], after["answers"], 0.5),
            "server_p99_ms": histogram_percentile(before["answers"], after["answers"], 0.99),
            "gc_passes": after["gc_passes"] - before["gc_passes"]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(port: int, pid: int, players: int, rate: float | None, seconds: float, generators: int) -> dict[str, float]:
    interval = None if rate is None else players / rate
    ramp = min(5.0, max(1.0, players / 2000)) if interval is None else max(1.0, min(interval, 5.0))
    warmup = 2.0
    epoch = time.time() + 0.5
    queue: multiprocessing.Queue[tuple[list[float], int, dict[int, int], float, int]] = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=generator, args=(port, range(g, players, generators), interval, ramp, warmup,
                                                        seconds, epoch, queue))
        for g in range(generators)
    ]
    for proc in procs:
        proc.start()
    time.sleep(max(0.0, epoch - time.time() + ramp + warmup))
    cpu_start = cpu_seconds(pid)
    server_before = server_stats(port)
    time.sleep(seconds)
    cpu_used = cpu_seconds(pid) - cpu_start
    server_after = server_stats(port)
    latencies: list[float] = []
    errors = 0
    refused = 0
    statuses: dict[int, int] = {}
    gen_cpu = 0.0
    for _ in procs:
        lat, err, st, cpu, ref = queue.get(timeout=seconds + 120)
        latencies += lat
        errors += err
        refused += ref
        gen_cpu += cpu
        for k, v in st.items():
            statuses[k] = statuses.get(k, 0) + v
    for proc in procs:
        proc.join()
    return {
        "events_per_s": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else float("nan"),
        **server_figures(server_before, server_after),
        "emulator_cpu_pct": 100 * cpu_used / seconds,
        "generator_cpu_pct": 100 * gen_cpu / (seconds + warmup + ramp),
        "errors": errors,
        "refused": refused,
        "non_2xx": sum(v for k, v in statuses.items() if k >= 300),
    }


WRK_SCRIPT = ROOT / "bench" / "emulator_wrk.lua"


def open_sessions(port: int, players: int) -> list[tuple[str, int]]:
    """One sessionStart per player (50 at a time), for wrk to send the viewing loop into."""
    async def one(index: int, gate: asyncio.Semaphore) -> tuple[str, int]:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            ts = T0 + index * 1000
            writer.write(session_start(ts))
            status, headers = await read_response(reader)
            writer.close()
            if status != 201:
                raise RuntimeError(f"sessionStart answered {status}")
            return headers["location"].rsplit("/", 1)[1], ts

    async def run() -> list[tuple[str, int]]:
        gate = asyncio.Semaphore(50)
        return list(await asyncio.gather(*(one(i, gate) for i in range(players))))

    return asyncio.run(run())


def measure_wrk(port: int, pid: int, players: int, rate: float | None, seconds: float) -> dict[str, float]:
    """The same players and viewing loop, sent by wrk (one connection per player, one thread).

    wrk's figures cover the whole run, the connections' first requests included: with 1,000 or
    more players those arrive at once, so the runs are longer than the Python generator's."""
    sessions = open_sessions(port, players)
    with tempfile.NamedTemporaryFile("w", suffix=".sessions", delete=False) as listing:
        listing.write("".join(f"{sid} {ts}\n" for sid, ts in sessions))
    try:
        cpu_start = cpu_seconds(pid)
        server_before = server_stats(port)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(
            ["wrk", "-t1", f"-c{players}", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", str(WRK_SCRIPT),
             f"http://127.0.0.1:{port}", "--", listing.name, str(rate or 0), ",".join(LOOP)],
            capture_output=True, text=True, check=True)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_used = cpu_seconds(pid) - cpu_start
        server_after = server_stats(port)
    finally:
        os.unlink(listing.name)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    duration = figures["duration_us"] / 1e6
    errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "events_per_s": figures["requests"] / duration,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        **server_figures(server_before, server_after),
        "emulator_cpu_pct": 100 * cpu_used / duration,
        "generator_cpu_pct": 100 * (children_after.ru_utime + children_after.ru_stime - children_before.ru_utime
                                    - children_before.ru_stime) / duration,
        "errors": errors,
        "refused": figures["connect_errors"],
        "non_2xx": figures["status_errors"],
    }


def start_emulator(db: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediacollect_emulator", "--no-site", "--api-port", str(port), "--db", str(db),
         "--log-level", "warning", *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/sessions?limit=1", timeout=1).read()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("emulator did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--rate", type=float, nargs="*", default=[5000.0],
                        help="offered events/s of the paced runs (several: one run each)")
    parser.add_argument("--no-saturated", action="store_true", help="skip the saturated run")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--generators", type=int, default=1, help="load-generator processes")
    parser.add_argument("--emulator-arg", action="append", default=[], help="extra emulator CLI argument")
    parser.add_argument("--generator", choices=["python", "wrk"], default="python",
                        help="the load generator: this script's asyncio players, or wrk (Debian's package "
                             "wrk) with bench/emulator_wrk.lua, which takes far less CPU from the emulator")
    args = parser.parse_args()
    print(f"# emulator load, {time.strftime('%Y-%m-%d')} on {platform.node()} "
          f"({os.cpu_count()} CPUs, Python {platform.python_version()}), generator: {args.generator}")
    print(f"{'players':>8} {'mode':>10} {'offered/s':>9} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'srv p50':>7} {'srv p99':>7} {'gc':>4} {'emu CPU%':>8} {'gen CPU%':>8} {'non-2xx':>7} {'errors':>6} "
          f"{'refused':>7}")
    for players in args.players:
        runs: list[tuple[str, float | None]] = [("paced", rate) for rate in args.rate]
        if not args.no_saturated:
            runs.append(("saturated", None))
        for mode, rate in runs:
            with tempfile.TemporaryDirectory() as tmp:
                proc, port = start_emulator(Path(tmp) / "load.sqlite3", args.emulator_arg)
                try:
                    if args.generator == "wrk":
                        r = measure_wrk(port, proc.pid, players, rate, args.seconds)
                    else:
                        r = measure(port, proc.pid, players, rate, args.seconds, args.generators)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
            offered = f"{rate:.0f}" if rate else "max"
            print(f"{players:>8} {mode:>10} {offered:>9} {r['events_per_s']:>9.0f} {r['p50_ms']:>7.2f} "
                  f"{r['p99_ms']:>7.2f} {r['server_p50_ms']:>7.1f} {r['server_p99_ms']:>7.1f} {r['gc_passes']:>4.0f} "
                  f"{r['emulator_cpu_pct']:>8.0f} {r['generator_cpu_pct']:>8.0f} {r['non_2xx']:>7} "
                  f"{r['errors']:>6} {r['refused']:>7}",
                  flush=True)


if __name__ == "__main__":
    main()
