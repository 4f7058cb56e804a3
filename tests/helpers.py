"""Test helpers: a real emulator process on free ports; how Chromium is launched here."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

_T = TypeVar("_T")

ROOT = Path(__file__).resolve().parent.parent
# One player, no ads, no chapters: the page for tests about the protocol rather than the demo.
BASIC_PAGE = "/examples/basic.html"
# The spec's sessionStart with every required param: the body most protocol tests start from.
START: dict[str, Any] = {
    "playerTime": {"playhead": 0, "ts": 1731672000000},
    "eventType": "sessionStart",
    "params": {
        "analytics.trackingServer": "example.data.adobedc.net",
        "analytics.reportSuite": "example-rsid",
        "visitor.marketingCloudOrgId": "0123456789ABCDEF0123456789@AdobeOrg",
        "media.id": "sample-video-id",
        "media.length": 3600,
        "media.contentType": "vod",
        "media.playerName": "sample-html5-player",
        "media.channel": "sample-channel",
    },
}
CHROMIUM = os.environ.get("MEDIACOLLECT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def wait_for(predicate: Callable[[], _T], timeout: float = 30.0, interval: float = 0.2,
             sleep: Callable[[float], object] = time.sleep, what: str = "condition") -> _T:
    """Poll ``predicate`` until it returns something true, and return that. ``sleep`` is how to
    wait between polls (a browser test passes its page's, so the page's events keep coming)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout} s (last: {value!r})")
        sleep(interval)


def holds(predicate: Callable[[], object], seconds: float, why: str, interval: float = 0.2) -> None:
    """Check that ``predicate`` stays true for ``seconds``, failing the moment it does not: for
    what must NOT happen (a resend, a request before consent), which no event announces. ``why``
    says what the period is long enough for."""
    deadline = time.monotonic() + seconds
    while True:
        assert predicate(), f"no longer true after {seconds - (deadline - time.monotonic()):.1f} s: {why}"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def compiled_stdlib() -> Path:
    """The standard library zip with bytecode that tools/build_vendor.py leaves beside Pyodide
    (exactly one: the build removes older ones)."""
    (path,) = (ROOT / "vendor").glob("pyodide-*/python_stdlib-*.zip")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Emulator:
    """A running ``python -m mediacollect_emulator`` with its two origins."""

    process: subprocess.Popen[str]
    api_port: int
    site_port: int
    log_path: Path
    log_file: IO[str]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.site_port}"

    def page_url(self, path: str = "/", **query: str) -> str:
        """A page of the site, pointed at this emulator: the demo by default."""
        from urllib.parse import urlencode

        return f"{self.site}{path}?{urlencode({'endpoint': self.endpoint, **query})}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.endpoint + path, timeout=10) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: Any = None, method: str = "POST") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def sessions(self) -> list[dict[str, Any]]:
        return [self.get(f"/_emulator/sessions/{s['sid']}") for s in self.get("/_emulator/sessions")]

    def reset(self) -> None:
        self.post("/_emulator/reset")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_emulator(tmp: Path, *extra: str) -> Emulator:
    api_port, site_port = free_port(), free_port()
    log_path = tmp / f"emulator-{api_port}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mediacollect_emulator", "--api-port", str(api_port), "--site-port", str(site_port),
         "--site-root", str(ROOT), "--db", str(tmp / f"emulator-{api_port}.sqlite3"), *extra],
        stdout=log_file, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )
    emulator = Emulator(process, api_port, site_port, log_path, log_file)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_file.close()
            raise RuntimeError(f"emulator exited: {emulator.log()}")
        if ("Inspect:" if "--no-site" in extra else "Demo page:") in emulator.log():
            return emulator
        time.sleep(0.05)
    stop_emulator(emulator)
    raise RuntimeError(f"emulator did not start: {emulator.log()}")


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_emulator(emulator: Emulator) -> None:
    stop_process(emulator.process)
    emulator.log_file.close()


def raw_post(path: str, body: Any, *extra: str) -> bytes:
    """An HTTP/1.1 JSON POST as bytes, for tests that speak to the emulator over a bare socket."""
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            f"Content-Length: {len(payload)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def run_async(scenario: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """asyncio.run in its own thread: Playwright's sync API (browser tests in the same session)
    keeps an event loop running on the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result()
