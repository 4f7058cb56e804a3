"""The page binding: the only module that touches ``js``, ``pyodide`` and ``pyscript``.

It runs in a PyScript worker (or, on a page without cross-origin isolation, on the main
thread). Requests leave from the page's thread either way (``ShimTransport``). The shim
(``shim.js``, loaded at the top of the page) stamps
every media event on the main thread the moment it fires (``Date.now()``, ``currentTime``),
keys it by element and queues it until Python connects; from then on it forwards each record
as a JSON string. Everything decided about those records lives in ``_inputs`` and ``_player``
(plain Python); this module only moves data between the shim and the drivers.

Public API: ``auto()`` tracks every ``<video data-mediacollect>`` (``<audio>`` too), including
elements added later; ``track(target, **settings)`` tracks one element from Python;
``untrack(binding)`` stops and releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import js  # the worker's global scope (Date, console)
from pyodide.ffi import create_proxy, jsnull
from pyscript import RUNNING_IN_WORKER, document, window

from . import _handover, _inputs
from ._ads import AdBreakPlan, parse_schedule
from ._config import MediaConfig, TrackerConfig
from ._driver import Driver
from ._errors import ConfigError
from ._lazy import materialize_all
from ._outbox import MAX_EVENT_AGE_MS, Outbox, Report
from ._player import Action, Command, Mode, Player
from ._tracker import Tracker
from .transport import HttpRequest, HttpResponse, TransportError, lower_headers

MAX_EARLY_RECORDS = 500  # per element nobody tracks yet


def _dom(value: Any) -> Any:
    """A DOM lookup's result, with JavaScript's null (Pyodide's ``jsnull``) as None."""
    return None if value is None or value is jsnull else value


_shim_proxy: Any = None


def _shim() -> Any:
    """The shim's object on the page (``window.mediacollectShim``), or None without the shim.
    Looked up once: from the worker, every attribute access is a round trip to the main thread."""
    global _shim_proxy
    if _shim_proxy is None:
        _shim_proxy = _dom(getattr(window, "mediacollectShim", None))
    return _shim_proxy


class ShimTransport:
    """Requests leave from the page's main thread (the shim's ``send``: fetch with keepalive), in
    a worker as on the main thread: a request under way outlives the page, and the worker is
    never blocked waiting for an answer, which comes back as a shim record. (The page knows what
    it sent: on its way out it does not send those bodies again, see ``_handover``.)"""

    ANSWER_GRACE = 5.0  # seconds past the shim's own timeout before the answer is given up

    def __init__(self, link: ShimLink) -> None:
        self._link = link

    @staticmethod
    def prepare_imports() -> None:
        from . import _urls  # noqa: F401  (for the first 201's Location and the first ad)

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        flight, answer = self._link.expect_answer()
        try:
            sent = _shim().send(flight, request.url, request.body.decode(), json.dumps(dict(request.headers)),
                                int(timeout * 1000))
            if not sent:
                raise TransportError("not sent: the page is hidden (what waited was handed over)")
            try:
                outcome = await asyncio.wait_for(answer, timeout + self.ANSWER_GRACE)
            except TimeoutError:
                raise TransportError(f"no answer within {timeout:.0f} s") from None
        finally:
            self._link.forget_answer(flight)
        if "error" in outcome:
            raise TransportError(str(outcome["error"]))
        return HttpResponse(int(outcome["status"]), lower_headers(dict(outcome.get("headers") or {})),
                            str(outcome.get("body") or "").encode())


class Panel:
    """One player's status fields and request log: ``data-panel`` fields (``state``, ``sid``,
    ``playhead``, ``queue``, ``log``, ``error``) inside the element the player names
    (``data-mediacollect-panel="<id>"``), which the shim found when it described the element.
    Any of them may be missing; without a panel the console still says everything. The shim
    renders each update in one call, as text, never HTML (server and user text)."""

    def __init__(self, key: int, fields: Iterable[str] = (), *, log_level: str = "info") -> None:
        self.key = key
        self.log_level = log_level
        self._fields = frozenset(fields)
        self._shown: dict[str, str] = {}

    def show(self, name: str, text: str) -> None:
        """Set a field's text (only when it changed: each write crosses to the main thread)."""
        if name in self._fields and self._shown.get(name) != text:
            _shim().show(self.key, name, text)
            self._shown[name] = text

    def error(self, message: str, *, console: bool = True) -> None:
        if console:
            js.console.error(f"mediacollect: {message}")
        if "error" in self._fields:  # newest last; the first (usually the cause) stays visible
            _shim().note(self.key, message)

    def report(self, report: Report) -> None:
        line = _inputs.log_line(report)
        if report.kind == "session" and report.sid:
            self.show("sid", report.sid)
        shown = line.shown_at(self.log_level)
        if line.is_error:
            self.error(line.text, console=shown)
        elif shown:
            (js.console.warn if line.level == "warning" else js.console.info)(f"mediacollect: {line.text}")
        if "log" in self._fields:
            _shim().log(self.key, json.dumps(
                {"text": line.text, "error": line.is_error, "type": line.event_type, "status": line.status}))


def page_error(message: str, *, level: str = "error") -> None:
    """A problem with the page as a whole (settings, isolation): console and ``#tracker-error``."""
    (js.console.warn if level == "warning" else js.console.error)(f"mediacollect: {message}")
    if _shim() is not None:
        _shim().note(0, message)


def page_status(text: str) -> None:
    if _shim() is not None:
        _shim().text("tracker-status", text)


class ShimLink:
    """The worker's one connection to the shim: routes each record to its element's binding.

    Records of elements nobody tracks (yet) are kept, a bounded number per element, so that
    ``track()`` called after the viewer pressed play still sees that play.
    """

    def __init__(self) -> None:
        self.bindings: dict[int, PlayerBinding] = {}
        self.auto = False
        self._early: dict[int, list[Any]] = {}
        # The page's settings block, ?endpoint= and base URL, and its declared elements: one
        # round trip to the main thread (each access from the worker waits for it).
        facts = json.loads(str(_shim().pageFacts()))
        self.settings: str | None = facts["settings"] or None
        self.endpoint_override: str | None = facts["endpoint"] or None
        self.base_url: str = facts["base"]
        self.declared: list[int] = facts["declared"]
        self._seq = 0  # the last shim record handled (the shim keeps the later ones until acked)
        self._acked = 0  # the last one acknowledged: every plan armed since reflects it
        self._handling = 0  # depth of record handling: no intake from inside it
        self._ack_due = False
        # Viewings whose element left the page (media id, element id): the same item back in the
        # page continues its viewing (spec §4.12 media.resume), bounded like the early records.
        self.left: dict[tuple[str, str], None] = {}
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}  # request id -> its answer record
        self._next_request = 0
        self._handler = create_proxy(self.on_record)  # the only proxy the shim holds
        _shim().connect(self._handler)
        # Import the HTTP layer now, while the viewer has not pressed play yet, rather than on
        # the first request (0.3-0.4 s in Pyodide); queued ahead of any shim record.
        asyncio.get_event_loop().call_soon(ShimTransport.prepare_imports)
        asyncio.get_event_loop().call_soon(materialize_all)  # the core's dataclasses, before the first event

    def on_record(self, raw: str) -> None:
        """One shim record, pushed by the shim or taken by ``intake``; each is handled once, in
        the order the shim stamped them."""
        self._take(json.loads(str(raw)))

    def _take(self, record: dict[str, Any]) -> None:
        seq = record.get("seq")
        if isinstance(seq, int):
            if seq <= self._seq:
                return  # already taken in by an intake, ahead of its own message
            self._seq = seq
        self._handling += 1
        try:
            self._route(record)
        finally:
            self._handling -= 1
        if not self._ack_due:
            self._ack_due = True
            asyncio.get_event_loop().call_soon(self._ack)

    def intake(self) -> bool:
        """Take in, in order, every record the shim holds that was not handled yet (the messages
        that carry them wait behind whatever this worker is doing): the drivers' ``Intake``.
        False from inside a record's handling, which must finish first."""
        if self._handling:
            return False
        # Acknowledged only as far as the armed plans reflect (``_ack``): the shim hands over the
        # records after that on pagehide. Those handled since come back, and are skipped.
        for record in json.loads(str(_shim().take(self._acked))):
            self._take(record)
        return True

    @property
    def handled(self) -> int:
        """The last shim record handled: a plan armed now reflects every record up to it."""
        return self._seq

    def expect_answer(self) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        """A new request id and the future its answer record resolves (``ShimTransport``)."""
        self._next_request += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_event_loop().create_future()
        self._answers[self._next_request] = future
        return self._next_request, future

    def forget_answer(self, request: int) -> None:
        self._answers.pop(request, None)

    def _ack(self) -> None:
        """Tell the shim every record so far is handled, after every element's page-close plan
        says so (the shim hands over, on pagehide, the records after what a plan reflects)."""
        self._ack_due = False
        for binding in list(self.bindings.values()):
            binding.arm_page_close()
        _shim().ack(self._seq)
        self._acked = self._seq

    def _route(self, record: dict[str, Any]) -> None:
        key = record.get("key")
        kind = record.get("type")
        if kind == "diagnose":
            _shim().diagnosis = json.dumps(self.diagnosis())
            return
        if kind == "answer":
            future = self._answers.pop(record.get("id"), None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result(record)
            return
        if kind == "claimed":  # other pages' undelivered events became this page's
            for each in list(self.bindings.values()):
                each.take_stored()
            return
        if not isinstance(key, int):  # a page signal (network back, visibility, consent): everyone's
            for each in list(self.bindings.values()):
                each.on_record(record)
            return
        if kind == "attach":
            if self.auto and key not in self.bindings:
                with contextlib.suppress(ConfigError):  # already shown on the page
                    _bind(self, key)
            return
        binding = self.bindings.get(key)
        if kind == "detach":
            self._early.pop(key, None)
            if binding is not None and binding.declared:
                if binding.driver.tracker.session:  # it had a viewing to continue
                    self.left[binding.viewing] = None
                while len(self.left) > MAX_EARLY_RECORDS:
                    del self.left[next(iter(self.left))]
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


_link_state: ShimLink | None = None


def _connect() -> ShimLink:
    global _link_state
    if _link_state is None:
        if not RUNNING_IN_WORKER:
            why = ("the page is cross-origin isolated, but this browser offers no SharedArrayBuffer to it"
                   if getattr(window, "crossOriginIsolated", False) else
                   "the page is not cross-origin isolated (send Cross-Origin-Opener-Policy: same-origin and "
                   "Cross-Origin-Embedder-Policy: credentialless, and mark the script worker)")
            page_error(f"mediacollect is running on the page's main thread: {why}. Tracking works; Python's "
                       "start-up froze the page meanwhile.", level="warning")
        if _shim() is None:
            raise ConfigError("shim", "is not on the page: add <script src=\".../shim.js\"> at the top of <head>")
        _link_state = ShimLink()
    return _link_state


def auto() -> ShimLink:
    """Track every ``<video data-mediacollect>``/``<audio data-mediacollect>`` on the page, and
    every one added later; a removed element's session is ended."""
    try:
        link = _connect()
    except ConfigError as err:
        page_status("error")
        page_error(str(err))
        raise
    try:
        link.auto = True
        if link.settings is not None:  # a page-wide block: check it once, show its endpoint
            try:
                config = _inputs.tracker_config(link.settings, link.endpoint_override)
            except ConfigError as err:
                page_status("error")
                page_error(f"configuration: {err}")
                return link
            _shim().text("endpoint", config.endpoint)
        for key in link.declared:
            with contextlib.suppress(ConfigError):  # already shown on the page and its panel
                _bind(link, key)
    except Exception as err:
        # A fault, not a setting: the traceback goes to the console (raised), and the page says
        # that tracking did not start instead of reading "loading" for ever.
        page_error(f"Python could not start: {type(err).__name__}: {err}")
        page_status("error")
        raise
    page_status("ready")
    return link


def track(target: Any, *, ads: object = None, media: dict[str, Any] | None = None,
          **settings: Any) -> PlayerBinding:
    """Track one ``<video>``/``<audio>`` (a CSS selector or the element): its own session,
    panel and ad schedule. ``settings`` override the page's JSON config block (TrackerConfig
    fields); ``media`` overrides its ``data-media-*`` attributes; ``ads`` its
    ``data-ad-schedule``. A wrong setting raises ``ConfigError`` naming it, and says so on the
    page; nothing is tracked then."""
    link = _connect()
    key = int(_shim().track(target))
    if key == 0:
        raise ConfigError("target", f"{target!r} is not a <video> or <audio> on the page")
    binding = _bind(link, key, settings=settings, media=media, ads=ads)
    page_status("ready")
    return binding


def _bind(link: ShimLink, key: int, *, settings: dict[str, Any] | None = None, ads: object = None,
          media: dict[str, Any] | None = None) -> PlayerBinding:
    if key in link.bindings:
        return link.bindings[key]
    described = _dom(_shim().describe(key))
    if described is None:
        raise ConfigError("target", "is no longer on the page")
    facts = json.loads(str(described))
    panel = Panel(key, facts["panel"])
    try:
        config, media_config, plans = read_settings(link, facts, settings or {}, media, ads)
    except ConfigError as err:
        page_error(f"configuration of <{facts['tag']} id={facts['id'] or ''!r}>: {err}")
        panel.error(f"configuration: {err}", console=False)
        _shim().untrack(key)
        raise
    panel.log_level = config.log_level
    binding = PlayerBinding(key, _shim().element(key), config, media_config, plans, panel,
                            declared=facts["declared"], element_id=facts["id"], src=facts["src"],
                            base_url=link.base_url, link=link, overrides=(settings or {}, media, ads),
                            dataset=facts["dataset"],
                            resume=(media_config.id, facts["id"] or "") in link.left)
    link.bindings[key] = binding
    binding.driver.start()
    for record in link.take_early(key):
        binding.on_record(record)
    return binding


def untrack(binding: PlayerBinding) -> None:
    """Stop tracking: the session is ended (sessionEnd), what is still queued is sent or stored,
    and the shim forgets the element. Tracking it again starts a new viewing."""
    link = _connect()
    if link.bindings.get(binding.key) is binding:
        del link.bindings[binding.key]
    binding.close()
    _shim().untrack(binding.key)


def read_settings(link: ShimLink, facts: dict[str, Any], settings: dict[str, Any], media: dict[str, Any] | None,
                  ads: object) -> tuple[TrackerConfig, MediaConfig, tuple[AdBreakPlan, ...]]:
    """The layers of an element's settings (the page block < its ``data-mediacollect`` JSON <
    ``track()``'s keywords < ``?endpoint=``), its ``data-media-*`` and its ad schedule, from
    what the shim described (``facts``)."""
    config = _inputs.tracker_config(link.settings, link.endpoint_override, element=facts["settings"],
                                  overrides=settings)
    dataset = facts["dataset"]
    media_config = _inputs.media_config(dataset, media)
    if ads is None:
        ads = _inputs.ad_schedule(dataset.get("adSchedule"), facts["blocks"].get)
    return config, media_config, parse_schedule(ads)


class PlayerBinding:
    """One tracked element: shim records in, the driver's reports out to its panel, element
    commands (ads) carried out, and the shim kept armed to end the session if the page goes."""

    def __init__(self, key: int, element: Any, config: TrackerConfig, media: MediaConfig,
                 plans: tuple[AdBreakPlan, ...], panel: Panel, *, declared: bool, element_id: str | None,
                 src: str | None, base_url: str, link: ShimLink,
                 overrides: tuple[dict[str, Any], dict[str, Any] | None, object] = ({}, None, None),
                 dataset: dict[str, Any] | None = None, resume: bool = False) -> None:
        """``resume``: this element was on the page before, watching the same item (a page that
        moves its player in the DOM): its first session continues that viewing."""
        self.key = key
        self.viewing = (media.id, element_id or "")
        self._overrides = overrides  # track()'s settings, media and ads: they hold for new media too
        self._dataset: dict[str, Any] = dataset or {}
        self.element = element
        self.panel = panel
        self.declared = declared
        self._link = link
        # Events an earlier page of this origin could not deliver (a reload, a close while
        # offline), which this page claimed: restored below, sent first.
        self._store_key = f"mediacollect:outbox:{media.id}:{element_id or key}"
        claimed = self._claimed()
        self.driver = Driver(
            Tracker(config, media, resume=resume or any(c.get("items") for c in claimed)),
            Outbox(config.api_base, consent=config.consent),
            ShimTransport(link),
            clock=lambda: int(js.Date.now()),
            timeout=config.request_timeout,
            playhead=self._content_playhead,
            on_report=self.on_report,
            intake=link.intake,
        )
        self.player = Player(self.driver, player_name=config.player_name, content_src=src, ads=plans,
                             base_url=base_url)
        self._skip_button: Any = None
        self._content_loop: bool | None = None  # the content's own loop setting, while ads play
        self._commands: list[Command] = []  # element commands waiting for the page work
        self._page_work_due = False
        self._armed: str | None = None
        self._stored: str | None = None
        self._templates: tuple[tuple[object, ...], tuple[dict[str, list[dict[str, Any]]],
                                                         dict[str, dict[str, Any]]]] | None = None
        self._restore(claimed)

    def _content_playhead(self) -> float | None:
        return self.player.content_playhead(float(self.element.currentTime))

    def on_record(self, record: dict[str, Any]) -> None:
        command = _inputs.control(record)
        if command == "opt-in":
            self.driver.opt_in()
        elif command == "opt-out":
            self.driver.opt_out()
        elif command == "resume":  # back from the back/forward cache
            self.driver.resume()
            self.take_stored()  # what the shim stored on pagehide, unless another page took it
        elif command is not None:
            self.driver.nudge(network_back=command == "network-back")
        leaving = record.get("type") in ("teardown", "pageclosed")
        if leaving:
            # Nothing more leaves from here until the page is back: it may be gone, and what this
            # worker would send the shim has sent or stored already.
            self.driver.suspend()
        if record.get("type") == "pageclosed":
            self.driver.outbox.hand_over()
            self._armed = None  # the shim dropped the plan it carried out
        if command is None:
            commands = self.player.handle(record)
            if commands and commands[0].action == "new-media" and commands[0].src:
                self._new_media(commands[0].src, int(record.get("ts") or js.Date.now()))
                commands = self.player.handle(record)
            self._commands += commands
        if leaving:
            self._page_work()  # now: the page is going away
        elif not self._page_work_due:
            # After what this record queued is on the wire (the driver sends it inside the
            # record's handling), and after the driver's turn: the page work last, because each
            # DOM call waits for the main thread, which is busy around a play.
            self._page_work_due = True
            asyncio.get_event_loop().call_soon(self._page_work)

    def _new_media(self, src: str, ts: int) -> None:
        """The element's source changed to other content: describe it again (its data-media-*
        and ad schedule as they are now) and start a new viewing; the old session is abandoned.
        A ``data-media-length`` the page left as it was described the old item: the new length
        is the element's own."""
        described = _dom(_shim().describe(self.key))
        if described is None:
            return
        facts = json.loads(str(described))
        try:
            _, media, plans = read_settings(_connect(), facts, self._overrides[0], self._overrides[1],
                                            self._overrides[2])
        except ConfigError as err:
            self.panel.error(f"configuration of the new source: {err}")
            return
        if facts["dataset"].get("mediaLength") == self._dataset.get("mediaLength"):
            media = replace(media, length=None)
        if media.id == self.driver.tracker.media.id:
            self.panel.error(f"the source changed to {src} but data-media-id is still {media.id!r}: "
                             "set it to the new item's id", console=True)
        self._dataset = facts["dataset"]
        self.player.change_media(media, src, plans, ts)

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
            if self.player.loaded():  # not when the viewer paused before the swap
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
        # Stored and armed before the page shows it: a viewer who closes the tab the moment the
        # log says 204 must find the shim ready to end the session.
        self.persist()
        self.arm_page_close()
        self.panel.report(report)
        self.panel.show("queue", str(len(self.driver.outbox)))

    def close(self) -> None:
        """End the session and stop; what cannot be sent now stays stored for the next load."""
        self.driver.call(self.driver.tracker.end_session)
        self.carry_out(Command(Action.HIDE_SKIP))
        asyncio.ensure_future(self._drain_and_stop())

    async def _drain_and_stop(self) -> None:
        await self.driver.flush()
        await self.driver.stop()
        self.persist()
        _shim().arm(self.key, None)

    def _claimed(self) -> list[dict[str, Any]]:
        """What other pages left undelivered under this element's store name, claimed by this one."""
        claimed = []
        for text in json.loads(str(_shim().stored(self._store_key))):
            with contextlib.suppress(ValueError):
                claimed.append(json.loads(text))
        return claimed

    def _restore(self, claimed: list[dict[str, Any]]) -> None:
        if not claimed:
            return
        for undelivered in claimed:
            self.driver.restore(undelivered)
        self._stored = None  # written now, whatever was written before: the claimed entries go
        self.persist()

    def take_stored(self) -> None:
        """Restore what this page claimed since (other pages' events, or its own after the
        back/forward cache)."""
        self._restore(self._claimed())

    def persist(self) -> None:
        """Keep the undelivered events in localStorage, so a later page of this origin (a
        reload, a visit within the server's 10 min window) delivers them if this one cannot;
        nothing stored once everything is delivered."""
        undelivered = self.driver.outbox.undelivered()
        text = json.dumps(undelivered) if undelivered["items"] else None
        if text == self._stored:
            return
        expires = max((item["ts"] for item in undelivered["items"]), default=0) + MAX_EVENT_AGE_MS
        _shim().store(self._store_key, text, expires)
        self._stored = text

    def arm_page_close(self) -> None:
        """Keep the shim armed with what to send or store if the page goes now (``_handover``)."""
        wanted = self._plan()
        if wanted is not None:
            _shim().arm(self.key, wanted or None, self._link.handled)

    def _plan(self) -> str | None:
        """The page-close plan, as JSON ("" for none); None when it is the one armed already."""
        tracker = self.driver.tracker
        events, states = self._next_events()
        plan = _handover.plan(tracker, self.driver.outbox, store=self._store_key, next_events=events,
                              next_states=states)
        wanted = json.dumps(plan) if plan is not None else ""
        if wanted == self._armed:
            return None
        self._armed = wanted
        return wanted

    def _next_events(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
        """The templates for records not taken in yet (``_handover.templates`` and
        ``state_templates``), made again only when what they depend on changed. Event templates
        only in content: an ad's records mean more than the tracker alone knows (the break's
        schedule), and so does a play that starts a break."""
        tracker = self.driver.tracker
        if self.player.mode is not Mode.CONTENT:
            kinds = frozenset[str]()
        elif self.player.pending_breaks:
            kinds = frozenset({"pause", "waiting"})
        else:
            kinds = frozenset({"pause", "play", "waiting", "ended"})
        key = (kinds, tracker.session, tracker.state, tracker.in_ad_break, tracker.chapter, tracker.active_states,
               tracker.element_states, tracker.is_live)
        if self._templates is None or self._templates[0] != key:
            now = int(js.Date.now())
            self._templates = (key, (_handover.templates(tracker, kinds, now),
                                     _handover.state_templates(tracker, _inputs.STATE_FLAGS, now)))
        return self._templates[1]
