"""The server's session rules (spec §4.9, §4.10, §4.11), with every duration configurable.

* A session closes after ``idle_timeout`` without events (10 min), after ``stall_timeout``
  without the playhead moving even while pings arrive (30 min), or on ``sessionEnd``
  (a repeated ``sessionEnd`` is answered 204, anything else 410).
* The reorder window: accepted events wait per session until ``window_seconds`` (5 s) have
  passed since the oldest one or ``window_events`` (10) are waiting, then are processed in
  ``ts`` order. An event whose ``ts`` is older than one already processed is a late straggler:
  it is processed anyway, out of order, and counted. ``sessionStart`` bypasses the window;
  closing a session processes what is waiting.
* ``time_scale`` makes emulated time pass faster: with 600, "10 minutes" are one real second,
  so tests and demos can watch timeouts happen.

The registry lives in memory (one dict lookup per request) and is rebuilt from SQLite at start
exactly as it was: the idle timer from the last accepted event's arrival, the no-movement timer
from the arrival of the first event of the last run with an unchanged playhead, and the events
that were still waiting in a window with their own arrival times (the window goes on where it
was). Time the emulator was stopped counts, as it would for a server that was up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._store import Op, Store, op_close_session, op_open_session, op_set_seq

MAX_SECONDS = 10.0 ** 9  # about 32 years: longer durations are a typo (or "inf")
MAX_WINDOW_EVENTS = 1_000_000


@dataclass(frozen=True)
class ServerRules:
    idle_timeout: float = 600.0
    stall_timeout: float = 1800.0
    window_seconds: float = 5.0
    window_events: int = 10
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("idle_timeout", "stall_timeout", "window_seconds", "time_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
                raise ValueError(f"{name} must be greater than 0 and at most {MAX_SECONDS:g} (a finite number)")
        if not 1 <= self.window_events <= MAX_WINDOW_EVENTS:
            raise ValueError(f"window_events must be from 1 to {MAX_WINDOW_EVENTS}")

    def real(self, emulated_seconds: float) -> float:
        """Real seconds that correspond to ``emulated_seconds`` of server time."""
        return emulated_seconds / self.time_scale


@dataclass
class Waiting:
    request_id: int
    ts: int
    arrived: float


@dataclass
class Session:
    sid: str
    created_at: float
    kind: str = "online"
    closed_at: float | None = None
    closed_reason: str | None = None
    upstream_sid: str | None = None
    last_event_at: float = 0.0
    last_playhead: float | None = None
    playhead_moved_at: float = 0.0
    window: list[Waiting] = field(default_factory=list)
    processed: int = 0
    last_processed_ts: int | None = None
    late: int = 0

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


class Sessions:
    """Every session the emulator knows, and the rules that open, feed and close them."""

    def __init__(self, store: Store, rules: ServerRules, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock
        self._by_sid: dict[str, Session] = {}
        self._waiting: dict[str, Session] = {}  # sessions with events in their window
        self._load()

    def _load(self) -> None:
        for row in self.store.session_rows():
            session = Session(row["sid"], row["created_at"], row["kind"], row["closed_at"], row["closed_reason"],
                              row["upstream_sid"], last_event_at=row["created_at"], playhead_moved_at=row["created_at"])
            self._by_sid[session.sid] = session
        for row in self.store.session_states():
            known = self._by_sid.get(row["sid"])
            if known is not None:
                known.last_event_at = row["last_event_at"]
                known.last_playhead = row["last_playhead"]
                known.playhead_moved_at = row["moved_at"]
                known.processed = row["processed"] or 0
                known.late = row["late"] or 0
                known.last_processed_ts = row["last_processed_ts"]
        for row in self.store.unprocessed():
            waiting = self._by_sid.get(row["sid"])
            if waiting is not None:
                waiting.window.append(Waiting(row["id"], row["ts"], row["received_at"]))
                self._waiting[waiting.sid] = waiting

    def get(self, sid: str) -> Session | None:
        return self._by_sid.get(sid)

    def all(self) -> list[Session]:
        return list(self._by_sid.values())

    def forget(self, sid: str) -> None:
        """Drop a session whose opening could not be stored (its sessionStart was answered 5xx)."""
        self._by_sid.pop(sid, None)
        self._waiting.pop(sid, None)

    def clear(self) -> None:
        self._by_sid.clear()
        self._waiting.clear()

    # -- lifecycle -----------------------------------------------------------------------------

    def open(self, sid: str, playhead: float, *, kind: str = "online", upstream_sid: str | None = None) -> Op:
        now = self.clock()
        self._by_sid[sid] = Session(sid, now, kind, upstream_sid=upstream_sid, last_event_at=now,
                                    last_playhead=playhead, playhead_moved_at=now)
        return op_open_session(sid, now, kind, upstream_sid)

    def expire(self, session: Session) -> list[Op]:
        """Close ``session`` if a timeout has passed; returns the writes that records."""
        if session.closed or session.kind != "online":
            return []
        now = self.clock()
        idle = (now - session.last_event_at) * self.rules.time_scale
        stalled = (now - session.playhead_moved_at) * self.rules.time_scale
        if idle >= self.rules.idle_timeout:
            return self.close(session, f"no events for {self.rules.idle_timeout:g} s")
        if stalled >= self.rules.stall_timeout:
            return self.close(session, f"playhead unchanged for {self.rules.stall_timeout:g} s")
        return []

    def close(self, session: Session, reason: str) -> list[Op]:
        if session.closed:
            return []
        ops = self.process(session, everything=True)
        session.closed_at = self.clock()
        session.closed_reason = reason
        ops.append(op_close_session(session.sid, session.closed_at, reason))
        return ops

    def accept(self, session: Session, request_id: int, ts: int, playhead: float) -> list[Op]:
        """An accepted event enters the reorder window; returns the writes of any processing it caused."""
        now = self.clock()
        session.last_event_at = now
        if session.last_playhead is None or playhead != session.last_playhead:
            session.last_playhead = playhead
            session.playhead_moved_at = now
        session.window.append(Waiting(request_id, ts, now))
        self._waiting[session.sid] = session
        return self.process(session, everything=len(session.window) >= self.rules.window_events)

    def first_event(self, session: Session, request_id: int, ts: int) -> Op:
        """``sessionStart`` bypasses the window: processed at once."""
        session.processed += 1
        session.last_processed_ts = ts
        return op_set_seq(request_id, session.processed)

    def process(self, session: Session, *, everything: bool = False) -> list[Op]:
        """Process the waiting events in ``ts`` order (all of them, or only once the window is over)."""
        if not session.window:
            return []
        if not everything and (self.clock() - session.window[0].arrived) < self.rules.real(self.rules.window_seconds):
            return []
        batch = sorted(session.window, key=lambda w: (w.ts, w.request_id))
        session.window = []
        self._waiting.pop(session.sid, None)
        ops: list[Op] = []
        for waiting in batch:
            late = session.last_processed_ts is not None and waiting.ts < session.last_processed_ts
            if late:
                session.late += 1
            else:
                session.last_processed_ts = waiting.ts
            session.processed += 1
            ops.append(op_set_seq(waiting.request_id, session.processed, late))
        return ops

    def process_due(self) -> list[Op]:
        """Process every window that is over (run often, and before anything is read back).

        ``_waiting`` keeps sessions in the order their windows opened, so the walk stops at the
        first window that is not over yet instead of visiting every session."""
        ops: list[Op] = []
        due_before = self.clock() - self.rules.real(self.rules.window_seconds)
        for session in list(self._waiting.values()):
            if session.window and session.window[0].arrived > due_before:
                break
            ops += self.process(session, everything=True)
        return ops

    def expire_slice(self, index: int, slices: int) -> list[Op]:
        """Timeouts for one of ``slices`` interleaved parts of the open sessions."""
        ops: list[Op] = []
        for session in list(self._by_sid.values())[index::slices]:
            if not session.closed:
                ops += self.expire(session)
        return ops

    def expire_all(self) -> list[Op]:
        """Close every session whose timeout has passed (run periodically, and before reads)."""
        ops: list[Op] = []
        for session in self._by_sid.values():
            if not session.closed:
                ops += self.expire(session)
        return ops
