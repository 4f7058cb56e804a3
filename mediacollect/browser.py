"""The page binding: the only module that touches ``js``, ``pyodide`` and ``pyscript``.

It runs in a PyScript worker. The inline shim in ``index.html`` stamps every media event on
the main thread the moment it fires (``Date.now()``, ``currentTime``) and queues it until
Python connects; from then on it forwards each event as a JSON string. Everything decided
about those strings lives in ``_page`` (plain Python); this module only moves data between
the DOM, the driver and pyodide-http.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js  # the worker's global scope (Date, console)
from pyodide.ffi import create_proxy
from pyscript import RUNNING_IN_WORKER, document, window

from . import _page
from ._config import MediaConfig, TrackerConfig
from ._driver import Driver
from ._errors import ConfigError
from ._events import PlayerEvent
from ._outbox import Outbox, Report
from ._record import materialize_all
from ._tracker import Tracker
from .transport import HttpRequest, HttpResponse, TransportError, lower_headers

MAX_ERROR_LINES = 6
_proxies: list[Any] = []  # keep JS-callable proxies alive for the page's lifetime


class PyodideHttpTransport:
    """pyodide-http's XHR sender, called directly rather than through its urllib patch: the
    patch drops the timeout (pyodide-http sets ``xhr.timeout`` only from its own Request) and
    it imports nothing we do not need. In a worker the XHR is synchronous but blocks only the
    worker, never the page."""

    @staticmethod
    def prepare() -> None:
        import urllib.parse  # noqa: F401  (for the first 201's Location)

        import pyodide_http._core  # noqa: F401  (starts its helper worker too)

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        from pyodide_http._core import Request, send

        pending = Request(request.method, request.url, headers=dict(request.headers), body=request.body,
                          timeout=timeout)
        try:
            response = send(pending)
        except Exception as err:  # pyodide's JsException (NetworkError, TimeoutError), not OSError
            raise TransportError(f"{type(err).__name__}: {err}") from None
        if response.status_code == 0:  # the browser refused the answer (CORS) without raising
            raise TransportError("no HTTP answer (network error or CORS refusal)")
        return HttpResponse(response.status_code, lower_headers(response.headers), response.body)


class Panel:
    """The status panel and the request log. Server and user text is set as text, never HTML."""

    def __init__(self) -> None:
        self.log_level = "info"
        self._status = document.getElementById("tracker-status")
        self._playback = document.getElementById("playback-state")
        self._sid = document.getElementById("session-id")
        self._log = document.getElementById("request-log")
        self._error = document.getElementById("tracker-error")

    def status(self, text: str) -> None:
        if self._status is not None:
            self._status.textContent = text

    def playback(self, text: str) -> None:
        if self._playback is not None:
            self._playback.textContent = text

    def error(self, message: str, *, console: bool = True) -> None:
        if console:
            js.console.error(f"mediacollect: {message}")
        if self._error is not None:  # newest last; the first (usually the cause) stays visible
            line = document.createElement("div")
            line.textContent = message
            self._error.appendChild(line)
            while self._error.childElementCount > MAX_ERROR_LINES:
                self._error.removeChild(self._error.children[1])
            self._error.hidden = False

    def report(self, report: Report, request: HttpRequest | None) -> None:
        line = _page.log_line(report)
        if report.kind == "session" and report.sid and self._sid is not None:
            self._sid.textContent = report.sid
        shown = line.shown_at(self.log_level)
        if line.is_error:
            self.error(line.text, console=shown)
        elif shown:
            (js.console.warn if line.level == "warning" else js.console.info)(f"mediacollect: {line.text}")
        if self._log is None:
            return
        item = document.createElement("li")
        item.className = "request error" if line.is_error else "request"
        item.setAttribute("data-event-type", line.event_type)
        item.setAttribute("data-status", line.status)
        item.textContent = line.text
        self._log.appendChild(item)


def read_settings(video: Any) -> tuple[TrackerConfig, MediaConfig]:
    block = document.getElementById("mediacollect-config")
    endpoint = window.URLSearchParams.new(window.location.search).get("endpoint")
    config = _page.tracker_config(None if block is None else str(block.textContent), endpoint)
    dataset = json.loads(str(window.JSON.stringify(video.dataset)))
    return config, _page.media_config(dataset)


def start_page(video_id: str = "video") -> Driver | None:
    """Track the page's <video id=video_id>: connect to the shim and start the driver."""
    panel = Panel()
    if not RUNNING_IN_WORKER:
        panel.error("mediacollect must run in a PyScript worker (add the worker attribute and serve the page "
                    "with COOP same-origin / COEP credentialless)")
    video = document.getElementById(video_id)
    if video is None:
        panel.status("error")
        panel.error(f"no <video id={video_id!r}> on the page")
        return None
    try:
        config, media = read_settings(video)
    except ConfigError as err:
        panel.status("error")
        panel.error(f"configuration: {err}")
        return None
    endpoint = document.getElementById("endpoint")
    if endpoint is not None:
        endpoint.textContent = config.endpoint

    panel.log_level = config.log_level
    binding = PageBinding(config, media, video, panel)
    handler = create_proxy(binding.on_shim_event)
    _proxies.append(handler)
    binding.driver.start()
    window.mediacollectShim.connect(handler)
    panel.status("ready")
    # Import the HTTP layer now, while the viewer has not pressed play yet, rather than on the
    # first request (0.3-0.4 s in Pyodide); queued ahead of any shim event.
    asyncio.get_event_loop().call_soon(PyodideHttpTransport.prepare)
    asyncio.get_event_loop().call_soon(materialize_all)  # the records' methods, before the first event
    return binding.driver


class PageBinding:
    """One tracked element: shim records in, the driver's reports out to the panel, and the
    shim kept armed to end the session itself if the page goes away."""

    def __init__(self, config: TrackerConfig, media: MediaConfig, video: Any, panel: Panel) -> None:
        self.panel = panel
        # Events an earlier load of this page could not deliver (a reload, a close while offline).
        self._store_key = f"mediacollect:outbox:{media.id}"
        stored = window.localStorage.getItem(self._store_key)
        snapshot = json.loads(str(stored)) if stored else None
        self.driver = Driver(
            Tracker(config, media, resume=bool(snapshot and snapshot.get("items"))),
            Outbox(config.api_base, consent=config.consent),
            PyodideHttpTransport(),
            clock=lambda: int(js.Date.now()),
            timeout=config.request_timeout,
            playhead=lambda: float(video.currentTime),
            on_report=self.on_report,
        )
        self._armed: str | None = None
        self._stored: str | None = str(stored) if stored else None
        if snapshot is not None:
            self.driver.restore(snapshot)
            self.persist()

    def on_shim_event(self, raw: str) -> None:
        record = json.loads(str(raw))
        command = _page.control(record)
        if command == "opt-in":
            self.driver.opt_in()
        elif command == "opt-out":
            self.driver.opt_out()
        elif command == "resume":
            self.driver.resume()
        elif command is not None:
            self.driver.nudge(network_back=command == "network-back")
        obs = _page.observation(record)
        if obs is not None:
            self.driver.observe(obs)
        self.persist()  # before anything the page can see: what it shows is already stored
        self.arm_page_close()
        if obs is not None:
            self.panel.playback(self.driver.tracker.state.value)
        if obs is not None and obs.event in (PlayerEvent.TEARDOWN, PlayerEvent.PAGE_CLOSED):
            self.driver.suspend()  # the next load (or the shim) sends what is left

    def on_report(self, report: Report, request: HttpRequest | None) -> None:
        self.panel.report(report, request)
        self.persist()
        self.arm_page_close()

    def persist(self) -> None:
        """Keep the undelivered events in localStorage, so a reload (or a later visit within the
        server's 10 min window) delivers them; nothing stored once everything is delivered."""
        snapshot = self.driver.outbox.snapshot()
        text = json.dumps(snapshot) if snapshot["items"] else None
        if text == self._stored:
            return
        if text is None:
            window.localStorage.removeItem(self._store_key)
        else:
            window.localStorage.setItem(self._store_key, text)
        self._stored = text

    def arm_page_close(self) -> None:
        """Give the shim what it needs to send sessionEnd on pagehide (the worker may not
        outlive the page): the open session's events URL and its playhead rule."""
        spec = self.driver.tracker.page_close_spec()
        location = self.driver.outbox.location(self.driver.tracker.session)
        wanted = None
        if spec is not None and location is not None:
            frozen, live = spec
            # With events still waiting, the page must not end the session on its way out: the
            # next load replays them into it, then ends it (Outbox.restore).
            wanted = json.dumps({"url": location.events_url, "frozen": frozen, "live": live,
                                 "pending": len(self.driver.outbox) > 0})
        if wanted != self._armed:
            window.mediacollectShim.arm(wanted)
            self._armed = wanted
