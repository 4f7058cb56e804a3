"""The one piece with a clock and a loop: wires tracker, outbox and transport together.

The tracker and the outbox decide everything; the driver only asks them what is due, sends it,
feeds the outcome back and sleeps until the next deadline. Player observations and integrator
calls start sending at once, inside the caller's turn. It runs on asyncio, which is Pyodide's
event loop in the browser worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

from ._events import ApiEvent, Observation
from ._outbox import Outbox, Report
from ._tracker import Tracker
from .transport import HttpRequest, Transport, TransportError

Clock = Callable[[], int]  # UTC milliseconds
# Takes in every player observation made up to now (the page's records still on their way to
# this worker); False when it cannot now (called from inside the handling of one).
Intake = Callable[[], bool]
ReportSink = Callable[[Report, HttpRequest | None], None]
RENEWAL_WINDOW_MS = 10 * 60 * 1000
# Tasks that run their first step at creation (Python 3.12+; Pyodide has 3.14). Without them a
# send waits for the loop's next turn, as the loop's own sends do.
EAGER_TASKS = sys.version_info >= (3, 12)


class Driver:
    def __init__(
        self,
        tracker: Tracker,
        outbox: Outbox,
        transport: Transport,
        clock: Clock,
        *,
        timeout: float = 10.0,
        playhead: Callable[[], float | None] | None = None,
        on_report: ReportSink | None = None,
        intake: Intake | None = None,
    ) -> None:
        """``intake``: see ``Intake``. Time-driven events (pings, a settled seek, a stall) are
        decided only right after it has run, so an observation that happened before them, but
        had not reached the driver yet (a worker blocked in a request, a throttled tab), is
        never stamped after them (spec §4.2, §4.9)."""
        self.tracker = tracker
        self.outbox = outbox
        self._transport = transport
        self._clock = clock
        self._timeout = timeout
        self._playhead = playhead
        self._on_report = on_report
        self._intake = intake
        self._pumping = False  # a pump's synchronous part is running (re-entered from intake)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warnings_seen = 0
        self._renewals: list[int] = []
        self._suspended = False
        self._senders: set[asyncio.Task[None]] = set()  # sends started by observe/call, in flight
        self._idle = asyncio.Event()  # cleared while a request waits for its answer
        self._idle.set()

    def observe(self, obs: Observation) -> list[ApiEvent]:
        """A player observation; its events are queued and the loop is woken."""
        return self._queue(self.tracker.observe(obs))

    def call(self, method: Callable[..., list[ApiEvent]], *args: Any, now: int | None = None,
             **kwargs: Any) -> list[ApiEvent]:
        """An integrator call on the tracker, its events queued: ``call(t.start_ad, info)``.
        ``now`` defaults to the clock; pass the time the player did it when that is known."""
        return self._queue(method(*args, now=self._clock() if now is None else now, **kwargs))

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        return self._task

    async def stop(self) -> None:
        for task in [self._task, *self._senders]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None

    async def flush(self) -> None:
        """Send everything that can be sent now (tests and ``untrack`` use it), after the answer to
        a request already under way: that answer decides what goes next, and a ``stop()`` right
        after must not cut it off (the request would reach the server with its answer unread,
        and stay stored to be sent again)."""
        while not self._idle.is_set():
            await self._idle.wait()
        await self._pump()

    def restore(self, snapshot: object) -> None:
        """Undelivered events an earlier page load stored (``outbox.snapshot()``): sent first."""
        for report in self.outbox.restore(snapshot, self._clock()):
            self._report(report, None)
        self._wake.set()

    def opt_in(self) -> None:
        """The viewer consented: what was held is sent, in order."""
        self.outbox.opt_in()
        self._wake.set()

    def opt_out(self) -> None:
        """The viewer refused: nothing more is sent, what waited is dropped (and reported)."""
        for report in self.outbox.opt_out():
            self._report(report, None)

    def nudge(self, *, network_back: bool = False) -> None:
        """Something outside changed (the network came back, the tab became visible): send what
        is due now instead of at the end of a backoff or a throttled timer."""
        if network_back:
            self.outbox.retry_now()
        self._wake.set()

    def _queue(self, events: list[ApiEvent]) -> list[ApiEvent]:
        self._push(events)
        self._wake.set()
        if events:
            self._send_now()
        return events

    def _send_now(self) -> None:
        """Start sending before the caller goes on, not on the loop's next turn: the first play's
        sessionStart then leaves before the rest of that play's work (a pre-roll break, the page
        updates), which is most of play-to-wire. The task starts eagerly, so a synchronous
        transport (one that answers at once) sends right here and an asynchronous one has its request
        out before this returns. Only in a started driver, inside a running loop, with nothing
        in flight (the outbox sends one request at a time, in order, whoever asks)."""
        if not EAGER_TASKS or self._task is None or self._suspended or self.outbox.busy or self._pumping:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = asyncio.Task(self._send_and_wake(), loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
        if not task.done():
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)

    async def _send_and_wake(self) -> None:
        try:
            await self._pump()
        finally:
            # What this send left behind (a retry's backoff, the next ping) is the loop's to
            # time: it may be asleep without a deadline while a request was in flight.
            self._wake.set()

    def _push(self, events: list[ApiEvent], *, not_before: int = 0) -> None:
        for report in self.outbox.push(events, not_before=not_before):
            self._report(report, None)

    async def _run(self) -> None:
        while True:
            await self._pump()
            self._wake.clear()
            deadlines = [d for d in (self.tracker.next_deadline, self.outbox.next_deadline) if d is not None]
            delay = None if not deadlines else max(0.0, (min(deadlines) - self._clock()) / 1000.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def suspend(self) -> None:
        """The page is going away: send nothing more from here (what waits is stored and the next
        page load sends it; sending it here too could deliver it twice)."""
        self._suspended = True

    def resume(self) -> None:
        """The page came back (from the back/forward cache): deliver again."""
        self._suspended = False
        self._wake.set()

    async def _pump(self) -> None:
        if self._suspended or self._pumping:
            return
        self._pumping = True
        try:
            self._catch_up()
            self._surface_warnings()
            while (request := self.outbox.next_request(self._clock())) is not None:
                self._idle.clear()
                self._pumping = False  # while it waits for the answer, the page's records go on
                try:
                    try:
                        response = await self._transport.send(request, self.outbox.timeout(self._timeout))
                    except TransportError as err:
                        reports = self.outbox.on_error(str(err), self._clock())
                    else:
                        reports = self.outbox.on_response(response, self._clock())
                finally:
                    self._pumping = True
                    self._idle.set()
                for report in reports:
                    self._report(report, request)
                    if report.kind == "session-gone":
                        self._renew()
        finally:
            self._pumping = False

    def _catch_up(self) -> None:
        """What fell due by now, after every observation made before now is taken in."""
        now = self._clock()  # before the intake: every record stamped up to now is on the page by then
        deadline = self.tracker.next_deadline
        if deadline is None or now < deadline:
            return
        if self._intake is not None and not self._intake():
            return  # inside a record's handling: the loop catches up on its next turn
        playhead = self._playhead() if self._playhead is not None else None
        self._push(self.tracker.tick(now, playhead))

    def _renew(self) -> None:
        """A new session for a lost one, backing off when the server keeps losing them: never a
        loop of sessionStarts (1 s, 2 s, 4 s ... 30 s after the 2nd, 3rd, 4th ... in 10 min)."""
        now = self._clock()
        self._renewals = [t for t in self._renewals if now - t < RENEWAL_WINDOW_MS] + [now]
        delay = 0 if len(self._renewals) == 1 else min(30_000, 1000 * 2 ** (len(self._renewals) - 2))
        events = self.tracker.renew(now)
        events += self.tracker.reissue(self.outbox.orphans, now)
        self.outbox.orphans = []
        self._push(events, not_before=now + delay)

    def _surface_warnings(self) -> None:
        for warning in self.tracker.warnings[self._warnings_seen:]:
            self._report(Report("warning", "", self.tracker.session, message=warning), None)
        self._warnings_seen = len(self.tracker.warnings)

    def _report(self, report: Report, request: HttpRequest | None) -> None:
        if self._on_report is not None:
            with contextlib.suppress(Exception):  # a broken log sink must not stop delivery
                self._on_report(report, request)
