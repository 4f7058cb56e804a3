"""The page binding: the only module that touches ``js``, ``pyodide`` and ``pyscript``.

It runs in a PyScript worker (or, on a page without cross-origin isolation, on the main
thread, sending with ``fetch``: see ``FetchTransport``). The shim (``shim.js``, loaded at the top of the page) stamps
every media event on the main thread the moment it fires (``Date.now()``, ``currentTime``),
keys it by element and queues it until Python connects; from then on it forwards each record
as a JSON string. Everything decided about those records lives in ``_page`` and ``_player``
(plain Python); this module only moves data between the DOM, the drivers and pyodide-http.

Public API: ``auto()`` tracks every ``<video data-mediacollect>`` (``<audio>`` too), including
elements added later; ``track(target, **settings)`` tracks one element from Python;
``untrack(binding)`` stops and releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from typing import Any

import js  # the worker's global scope (Date, console)
from pyodide.ffi import create_proxy, jsnull
from pyscript import RUNNING_IN_WORKER, document, window

from . import _page
from ._ads import AdBreakPlan, parse_schedule
from ._config import MediaConfig, TrackerConfig
from ._driver import Driver
from ._errors import ConfigError
from ._outbox import Outbox, Report
from ._player import Command, Mode, Player
from ._record import materialize_all
from ._tracker import Tracker
from .transport import HttpRequest, HttpResponse, TransportError, lower_headers

MAX_ERROR_LINES = 6
MAX_LOG_LINES = 500  # the request log keeps the newest lines (a long viewing pings for hours)
MAX_EARLY_RECORDS = 500  # per element nobody tracks yet


def _dom(value: Any) -> Any:
    """A DOM lookup's result, with JavaScript's null (Pyodide's ``jsnull``) as None."""
    return None if value is None or value is jsnull else value


def _by_id(element_id: str) -> Any:
    return _dom(document.getElementById(element_id))


def _attribute(element: Any, name: str) -> str | None:
    value = _dom(element.getAttribute(name))
    return None if value is None else str(value)


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


class FetchTransport:
    """The main-thread fallback (a page without cross-origin isolation): the browser's fetch,
    awaited. A synchronous XHR there would freeze the page for the length of every request."""

    @staticmethod
    def prepare() -> None:
        import pyodide.http  # noqa: F401

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        from pyodide.http import pyfetch

        controller = js.AbortController.new()
        timer = asyncio.get_event_loop().call_later(timeout, controller.abort)
        try:
            response = await pyfetch(request.url, method=request.method, headers=dict(request.headers),
                                     body=request.body.decode(), credentials="omit", signal=controller.signal)
            body = await response.bytes()
        except Exception as err:  # AbortError (the timeout), TypeError "Failed to fetch" (network, CORS)
            raise TransportError(f"{type(err).__name__}: {err}") from None
        finally:
            timer.cancel()
        return HttpResponse(response.status, lower_headers(response.headers), body)


def _transport_class() -> type[PyodideHttpTransport] | type[FetchTransport]:
    return PyodideHttpTransport if RUNNING_IN_WORKER else FetchTransport


class Panel:
    """One player's status fields and request log, found inside the element the player names
    (``data-mediacollect-panel="<id>"``) by ``data-panel`` attributes: ``state``, ``sid``,
    ``playhead``, ``queue``, ``log``, ``error``. Any of them may be missing; without a panel
    the console still says everything. Server and user text is set as text, never HTML."""

    FIELDS = ("state", "sid", "playhead", "queue", "log", "error")

    def __init__(self, container: Any = None, *, log_level: str = "info") -> None:
        self.log_level = log_level
        self._fields: dict[str, Any] = {}
        self._shown: dict[str, str] = {}
        if container is not None:
            for name in self.FIELDS:
                found = _dom(container.querySelector(f"[data-panel={name}]"))
                if found is not None:
                    self._fields[name] = found

    def show(self, name: str, text: str) -> None:
        """Set a field's text (only when it changed: each write crosses to the main thread)."""
        element = self._fields.get(name)
        if element is not None and self._shown.get(name) != text:
            element.textContent = text
            self._shown[name] = text

    def error(self, message: str, *, console: bool = True) -> None:
        if console:
            js.console.error(f"mediacollect: {message}")
        box = self._fields.get("error")
        if box is not None:  # newest last; the first (usually the cause) stays visible
            _append_line(box, message)

    def report(self, report: Report) -> None:
        line = _page.log_line(report)
        if report.kind == "session" and report.sid:
            self.show("sid", report.sid)
        shown = line.shown_at(self.log_level)
        if line.is_error:
            self.error(line.text, console=shown)
        elif shown:
            (js.console.warn if line.level == "warning" else js.console.info)(f"mediacollect: {line.text}")
        log = self._fields.get("log")
        if log is None:
            return
        item = document.createElement("li")
        item.className = "request error" if line.is_error else "request"
        item.setAttribute("data-event-type", line.event_type)
        item.setAttribute("data-status", line.status)
        item.textContent = line.text
        log.appendChild(item)
        while log.childElementCount > MAX_LOG_LINES:
            log.removeChild(log.firstElementChild)


def _append_line(box: Any, message: str) -> None:
    line = document.createElement("div")
    line.textContent = message
    box.appendChild(line)
    while box.childElementCount > MAX_ERROR_LINES:
        box.removeChild(box.children[1])
    box.hidden = False


def page_error(message: str, *, level: str = "error") -> None:
    """A problem with the page as a whole (settings, isolation): console and ``#tracker-error``."""
    (js.console.warn if level == "warning" else js.console.error)(f"mediacollect: {message}")
    box = _by_id("tracker-error")
    if box is not None:
        _append_line(box, message)


def page_status(text: str) -> None:
    status = _by_id("tracker-status")
    if status is not None:
        status.textContent = text


class Page:
    """The worker's one connection to the shim: routes each record to its element's binding.

    Records of elements nobody tracks (yet) are kept, a bounded number per element, so that
    ``track()`` called after the viewer pressed play still sees that play.
    """

    def __init__(self) -> None:
        self.bindings: dict[int, PlayerBinding] = {}
        self.auto = False
        self._early: dict[int, list[Any]] = {}
        self._settings: str | None = None
        self._endpoint: str | None = None
        self._handler = create_proxy(self.on_record)  # the only proxy the shim holds
        window.mediacollectShim.connect(self._handler)
        # Import the HTTP layer now, while the viewer has not pressed play yet, rather than on
        # the first request (0.3-0.4 s in Pyodide); queued ahead of any shim record.
        asyncio.get_event_loop().call_soon(_transport_class().prepare)
        asyncio.get_event_loop().call_soon(materialize_all)  # the records' methods, before the first event

    def endpoint_override(self) -> str | None:
        """The page URL's ``?endpoint=``, read once (three round trips to the main thread)."""
        if self._endpoint is None:
            value = window.URLSearchParams.new(window.location.search).get("endpoint")
            self._endpoint = "" if _dom(value) is None else str(value)
        return self._endpoint or None

    def settings(self) -> str | None:
        if self._settings is None:
            block = _by_id("mediacollect-config")
            self._settings = "" if block is None else str(block.textContent)
        return self._settings or None

    def on_record(self, raw: str) -> None:
        record = json.loads(str(raw))
        key = record.get("key")
        kind = record.get("type")
        if kind == "diagnose":
            window.mediacollectShim.diagnosis = json.dumps(self.diagnosis())
            return
        if not isinstance(key, int):  # a page signal (network back, visibility, consent): everyone's
            for each in list(self.bindings.values()):
                each.on_record(record)
            return
        if kind == "attach":
            if self.auto and key not in self.bindings:
                with contextlib.suppress(ConfigError):  # already shown on the page
                    track(window.mediacollectShim.element(key))
            return
        binding = self.bindings.get(key)
        if kind == "detach":
            self._early.pop(key, None)
            if binding is not None and binding.declared:
                untrack(binding)
            return
        if binding is not None:
            binding.on_record(record)
            return
        early = self._early.setdefault(key, [])
        early.append(record)
        if len(early) > MAX_EARLY_RECORDS:
            drop = next((i for i, r in enumerate(early) if r.get("type") == "timeupdate"), 0)
            del early[drop]

    def diagnosis(self) -> dict[str, int]:
        """What this worker holds, for ``mediacollect.diagnose()``: a count that keeps growing
        while elements come and go is a leak."""
        gc.collect()
        live = sum(1 for o in gc.get_objects() if isinstance(o, PlayerBinding | Tracker | Driver))
        tasks = len(asyncio.all_tasks(asyncio.get_event_loop()))
        return {"bindings": len(self.bindings), "live_objects": live, "tasks": tasks,
                "held_elements": len(self._early), "held_records": sum(map(len, self._early.values()))}

    def take_early(self, key: int) -> list[Any]:
        return self._early.pop(key, [])


_page_state: Page | None = None


def _connect() -> Page:
    global _page_state
    if _page_state is None:
        if not RUNNING_IN_WORKER:
            page_error("mediacollect is running on the page's main thread: the page is not cross-origin isolated "
                       "(send Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: "
                       "credentialless, and mark the script worker). Tracking works; Python's start-up froze "
                       "the page meanwhile.", level="warning")
        if _dom(getattr(window, "mediacollectShim", None)) is None:
            raise ConfigError("shim", "is not on the page: add <script src=\".../shim.js\"> at the top of <head>")
        _page_state = Page()
    return _page_state


def auto() -> Page:
    """Track every ``<video data-mediacollect>``/``<audio data-mediacollect>`` on the page, and
    every one added later; a removed element's session is ended."""
    try:
        page = _connect()
    except ConfigError as err:
        page_status("error")
        page_error(str(err))
        raise
    page.auto = True
    if page.settings() is not None:  # a page-wide block: check it once, show its endpoint
        try:
            config = _page.tracker_config(page.settings(), page.endpoint_override())
        except ConfigError as err:
            page_status("error")
            page_error(f"configuration: {err}")
            return page
        endpoint = _by_id("endpoint")
        if endpoint is not None:
            endpoint.textContent = config.endpoint
    for element in document.querySelectorAll("video[data-mediacollect], audio[data-mediacollect]"):
        with contextlib.suppress(ConfigError):  # already shown on the page and its panel
            track(element)
    page_status("ready")
    return page


def track(target: Any, *, ads: object = None, media: dict[str, Any] | None = None,
          **settings: Any) -> PlayerBinding:
    """Track one ``<video>``/``<audio>`` (a CSS selector or the element): its own session,
    panel and ad schedule. ``settings`` override the page's JSON config block (TrackerConfig
    fields); ``media`` overrides its ``data-media-*`` attributes; ``ads`` its
    ``data-ad-schedule``. A wrong setting raises ``ConfigError`` naming it, and says so on the
    page; nothing is tracked then."""
    page = _connect()
    key = int(window.mediacollectShim.track(target))
    if key == 0:
        raise ConfigError("target", f"{target!r} is not a <video> or <audio> on the page")
    if key in page.bindings:
        return page.bindings[key]
    element = window.mediacollectShim.element(key)
    panel_id = _attribute(element, "data-mediacollect-panel")
    panel = Panel(_by_id(panel_id) if panel_id else None)
    try:
        config, media_config, plans = read_settings(page, element, settings, media, ads)
    except ConfigError as err:
        page_error(f"configuration of <{str(element.tagName).lower()} id={element.id!r}>: {err}")
        panel.error(f"configuration: {err}", console=False)
        window.mediacollectShim.untrack(key)
        raise
    panel.log_level = config.log_level
    binding = PlayerBinding(key, element, config, media_config, plans, panel,
                            declared=element.hasAttribute("data-mediacollect"))
    page.bindings[key] = binding
    binding.driver.start()
    for record in page.take_early(key):
        binding.on_record(record)
    page_status("ready")
    return binding


def untrack(binding: PlayerBinding) -> None:
    """Stop tracking: the session is ended (sessionEnd), what is still queued is sent or stored,
    and the shim forgets the element. Tracking it again starts a new viewing."""
    page = _connect()
    if page.bindings.get(binding.key) is binding:
        del page.bindings[binding.key]
    binding.close()
    window.mediacollectShim.untrack(binding.key)


def read_settings(page: Page, element: Any, settings: dict[str, Any], media: dict[str, Any] | None,
                  ads: object) -> tuple[TrackerConfig, MediaConfig, tuple[AdBreakPlan, ...]]:
    config = _page.tracker_config(page.settings(), page.endpoint_override(),
                                  element=_attribute(element, "data-mediacollect"), overrides=settings)
    dataset = json.loads(str(window.JSON.stringify(element.dataset)))
    media_config = _page.media_config(dataset, media)
    if ads is None:
        ads = _page.ad_schedule(dataset.get("adSchedule"), _json_block)
    return config, media_config, parse_schedule(ads)


def _json_block(element_id: str) -> str | None:
    block = _by_id(element_id)
    return None if block is None else str(block.textContent)


class PlayerBinding:
    """One tracked element: shim records in, the driver's reports out to its panel, element
    commands (ads) carried out, and the shim kept armed to end the session if the page goes."""

    def __init__(self, key: int, element: Any, config: TrackerConfig, media: MediaConfig,
                 plans: tuple[AdBreakPlan, ...], panel: Panel, *, declared: bool) -> None:
        self.key = key
        self.element = element
        self.panel = panel
        self.declared = declared
        # Events an earlier load of this page could not deliver (a reload, a close while offline).
        self._store_key = f"mediacollect:outbox:{media.id}:{element.id or key}"
        stored = _dom(window.localStorage.getItem(self._store_key))
        snapshot = json.loads(str(stored)) if stored else None
        self.driver = Driver(
            Tracker(config, media, resume=bool(snapshot and snapshot.get("items"))),
            Outbox(config.api_base, consent=config.consent),
            _transport_class()(),
            clock=lambda: int(js.Date.now()),
            timeout=config.request_timeout,
            playhead=self._content_playhead,
            on_report=self.on_report,
        )
        content_src = str(element.currentSrc or "") or _attribute(element, "src")
        self.player = Player(self.driver, player_name=config.player_name, content_src=content_src, ads=plans,
                             base_url=str(document.baseURI))
        self._skip_button: Any = None
        self._content_loop: bool | None = None  # the content's own loop setting, while ads play
        self._commands: list[Command] = []  # element commands waiting for the page work
        self._page_work_due = False
        self._armed: str | None = None
        self._stored: str | None = str(stored) if stored else None
        if snapshot is not None:
            self.driver.restore(snapshot)
            self.persist()

    def _content_playhead(self) -> float | None:
        return self.player.content_playhead(float(self.element.currentTime))

    def on_record(self, record: dict[str, Any]) -> None:
        command = _page.control(record)
        if command == "opt-in":
            self.driver.opt_in()
        elif command == "opt-out":
            self.driver.opt_out()
        elif command == "resume":
            self.driver.resume()
        elif command is not None:
            self.driver.nudge(network_back=command == "network-back")
        if command is None:
            self._commands += self.player.handle(record)
        if record.get("type") in ("teardown", "pageclosed"):
            self._page_work()  # now: the page is going away
            self.driver.suspend()  # the next load (or the shim) sends what is left
        elif not self._page_work_due:
            # After the driver's turn: what this record queued goes on the wire first, then the
            # page work (each DOM call waits for the main thread, which is busy around a play).
            self._page_work_due = True
            asyncio.get_event_loop().call_soon(self._page_work)

    def _page_work(self) -> None:
        self._page_work_due = False
        commands, self._commands = self._commands, []
        for command in commands:
            self.carry_out(command)
        self.persist()  # before anything the page can see: what it shows is already stored
        self.arm_page_close()
        self.panel.show("state", self.player.mode.value if self.player.mode.value.startswith("ad")
                        else self.driver.tracker.state.value)
        self.panel.show("queue", str(len(self.driver.outbox)))
        self.panel.show("playhead", f"{self.driver.tracker.playhead_at(int(js.Date.now())):.1f} s")

    def carry_out(self, command: Command) -> None:
        """An element command from the player (ads): swap the source, show or hide the skip button."""
        if command.action == "load" and command.src:
            if self.player.mode is Mode.AD_LOADING:  # an ad never loops, whatever the content does
                if self._content_loop is None:
                    self._content_loop = bool(self.element.loop)
                self.element.loop = False
            elif self._content_loop is not None:
                self.element.loop = self._content_loop
                self._content_loop = None
            self.element.src = command.src
            if command.at:  # before the metadata: the new source's start position, not a seek
                self.element.currentTime = command.at
            self.element.play()
        elif command.action == "show-skip" and self._skip_button is None:
            button = document.createElement("button")
            button.type = "button"
            button.className = "mediacollect-skip"
            button.setAttribute("data-mediacollect-skip", str(self.key))
            button.textContent = "Skip ad"
            self.element.insertAdjacentElement("afterend", button)
            self._skip_button = button
        elif command.action == "hide-skip" and self._skip_button is not None:
            self._skip_button.remove()
            self._skip_button = None

    def on_report(self, report: Report, request: HttpRequest | None) -> None:
        self.panel.report(report)
        self.panel.show("queue", str(len(self.driver.outbox)))
        self.persist()
        self.arm_page_close()

    def close(self) -> None:
        """End the session and stop; what cannot be sent now stays stored for the next load."""
        self.driver.call(self.driver.tracker.end_session)
        self.carry_out(Command("hide-skip"))
        asyncio.ensure_future(self._drain_and_stop())

    async def _drain_and_stop(self) -> None:
        await self.driver.flush()
        await self.driver.stop()
        self.persist()
        window.mediacollectShim.arm(self.key, None)

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
            window.mediacollectShim.arm(self.key, wanted)
            self._armed = wanted
