"""The outbox: API events become HTTP requests, strictly in order, one at a time.

Rules (spec §4.9, §4.17):

* FIFO per tracker, one request in flight. Events of a session wait behind its sessionStart
  until the ``201`` names the sid; they are then sent in their original order with their
  original ``ts``/``playhead``.
* The head leaves the queue only on success or on a permanent failure; a transient failure
  (network, timeout, 408/429/5xx) keeps it at the head and backs off (full jitter, Retry-After
  honoured). Nothing is dropped silently: every drop is a ``Report`` with its reason.
* Sans-I/O like the tracker: ``next_request(now)`` hands out a request, ``on_response`` /
  ``on_error`` take the outcome, ``next_deadline`` says when a backed-off head is due.
"""

from __future__ import annotations

import functools
import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from . import _wire
from ._events import ApiEvent, EventType
from ._record import record
from ._retry import Verdict, backoff_delay, classify, retry_after_seconds
from .transport import HttpRequest, HttpResponse

# Spec §4.10: a session without events for 10 minutes is closed by the server, so an event
# still undelivered after that long can no longer land in its session.
MAX_EVENT_AGE_MS = 10 * 60 * 1000
# A sessionStart's answer is awaited this long (seconds), whatever the request timeout: see
# Outbox.timeout. Within the 10 min an undelivered event is kept for.
SESSION_START_TIMEOUT = 120.0
MESSAGE_LIMIT = 300  # characters of a server message we keep
# Events waiting at most (offline for hours, consent pending): about 2.5 h of pings.
MAX_QUEUE = 1000
# When the server loses a session (404/410), its queued events are replaced by a renewal that
# re-states the present (chapter, states, ad, play/pause); these record something that happened
# and nothing re-states, so they are sent again on the new session (Tracker.reissue).
REISSUED = frozenset({EventType.ERROR, EventType.BITRATE_CHANGE})

LOCATION_UNREADABLE = (
    "the server answered 201 but its Location header is missing or unreadable; a browser can only "
    "read it when the API sends 'Access-Control-Expose-Headers: Location'"
)


@record
class Report:
    """One thing the outbox did, for the page's request log and the console."""

    kind: str  # "sent" | "session" | "retry" | "rejected" | "dropped" | "session-gone"
    event_type: str
    session: int
    status: int | None = None
    message: str = ""
    latency_ms: int | None = None
    attempt: int = 0
    sid: str | None = None
    retry_in_ms: int | None = None
    playhead: float | None = None  # the event's, for the log


@record
class Pending:
    """One undelivered event as the page may send or store it itself (``Outbox.pending``)."""

    event: ApiEvent
    body: str
    url: str | None  # None until its session's sid is known
    in_flight: bool


def entry(event: ApiEvent, body: Any) -> dict[str, Any]:
    """One event in a snapshot's stored form (``body`` is its JSON text, or a page's slot)."""
    return {"session": event.session, "type": event.type.value, "ts": event.ts, "playhead": event.playhead,
            "body": body}


@record(frozen=False)
class _Item:
    event: ApiEvent
    body: bytes
    attempts: int = 0
    not_before: int = 0
    backoff: int = 0  # failures since the backoff last started over (the network came back)
    at_once: bool = False  # the network came back while this attempt was in flight


class Outbox:
    """``consent``: ``"granted"`` sends; ``"pending"`` holds everything (bounded) until
    ``opt_in``; ``"refused"`` (after ``opt_out``) drops the queue and every later event."""

    def __init__(self, api_base: str, *, rand: Callable[[], float] | None = None, consent: str = "granted",
                 max_queue: int = MAX_QUEUE) -> None:
        if rand is None:
            import random  # not at module import: it drags hashlib into the page's start-up

            rand = random.random
        if consent not in ("granted", "pending", "refused"):
            raise ValueError(f"consent must be granted, pending or refused, not {consent!r}")
        self._api_base = api_base
        self._rand = rand
        self._queue: deque[_Item] = deque()
        self._sessions: dict[int, _wire.SessionLocation] = {}
        self._in_flight: _Item | None = None
        self._sent_at = 0
        self.consent = consent
        self.orphans: list[ApiEvent] = []  # events of a lost session to send on its renewal
        self._max_queue = max_queue
        self._refusal_reported = False

    def __len__(self) -> int:
        return len(self._queue)

    def location(self, session: int) -> _wire.SessionLocation | None:
        return self._sessions.get(session)

    def sid(self, session: int) -> str | None:
        location = self._sessions.get(session)
        return location.sid if location else None

    def push(self, events: Iterable[ApiEvent], *, not_before: int = 0) -> list[Report]:
        """Queue events in order; returns what had to be dropped (refused consent, a full queue).
        ``not_before`` holds the first of them until then (a renewal backing off)."""
        reports: list[Report] = []
        for index, event in enumerate(events):
            if self.consent == "refused":
                if not self._refusal_reported:
                    reports.append(Report("dropped", event.type.value, event.session,
                                          message="not sent: the viewer opted out of tracking"))
                    self._refusal_reported = True
                continue
            body = _wire.encode(_wire.to_body(event))
            self._queue.append(_Item(event, body, not_before=not_before if index == 0 else 0))
            if len(self._queue) > self._max_queue:
                reports.append(self._make_room())
        return reports

    def _make_room(self) -> Report:
        """Drop one queued event: the oldest ping (the next one says the same), else the oldest
        event that is neither in flight nor a sessionStart (its session's events need it)."""
        candidates = [i for i in self._queue
                      if i is not self._in_flight and i.event.type is not EventType.SESSION_START]
        pings = [i for i in candidates if i.event.type is EventType.PING]
        victim = (pings or candidates)[0]
        self._queue.remove(victim)
        return Report("dropped", victim.event.type.value, victim.event.session,
                      message=f"not sent: more than {self._max_queue} events waiting")

    def opt_in(self) -> None:
        self.consent = "granted"
        self._refusal_reported = False

    def opt_out(self) -> list[Report]:
        """Nothing more is sent; what waits is dropped (one report per event, with the reason)."""
        self.consent = "refused"
        dropped = [Report("dropped", i.event.type.value, i.event.session, message="not sent: the viewer opted out")
                   for i in self._queue if i is not self._in_flight]
        self._queue = deque(i for i in self._queue if i is self._in_flight)
        self._refusal_reported = bool(dropped)
        return dropped

    def snapshot(self) -> dict[str, Any]:
        """What is still undelivered, as plain JSON data a page can store and a later page load
        can ``restore``: each event's body and the session it belongs to (with its events URL
        once the sid is known)."""
        return self.snapshot_of([entry(i.event, i.body.decode()) for i in self._queue],
                                {item.event.session for item in self._queue})

    def snapshot_of(self, items: Any, sessions: set[int]) -> dict[str, Any]:
        """A snapshot of the given stored ``entry`` forms (or a page's slot for them), with the
        locations of ``sessions`` that have one."""
        return {
            "version": 1,
            "items": items,
            "sessions": {str(n): {"version": loc.version, "sid": loc.sid, "url": loc.url}
                         for n, loc in self._sessions.items() if n in sessions},
        }

    def pending(self) -> list[Pending]:
        """What is undelivered, in order, as a page hands it over on its own (``_handover``)."""
        return [Pending(i.event, i.body.decode(), self._url(i.event), i is self._in_flight) for i in self._queue]

    @property
    def failing(self) -> bool:
        """The last attempt at the head failed (its backoff runs): the API is not answering."""
        return bool(self._queue) and self._queue[0].attempts > 0

    def hand_over(self) -> None:
        """The page took everything undelivered (it sent or stored it on its way out): forget it.
        The answer to a request still under way then changes nothing."""
        self._queue.clear()

    def restore(self, snapshot: Any, now: int) -> list[Report]:
        """Put the undelivered events of an earlier page load at the head of the queue, in their
        order, each session closed by a ``sessionEnd`` (that page is gone). Sessions the server
        has already closed (their last event is older than its 10 min window) are dropped and
        reported: their events can no longer land anywhere."""
        try:
            items = list(snapshot["items"])
            locations = {int(n): _wire.SessionLocation(str(loc["version"]), str(loc["sid"]), str(loc["url"]))
                         for n, loc in dict(snapshot["sessions"]).items()}
            by_session: dict[int, list[dict[str, Any]]] = {}
            for item in items:
                by_session.setdefault(int(item["session"]), []).append(item)
        except (KeyError, TypeError, ValueError):
            return [Report("dropped", "", 0, message="stored events from an earlier page were unreadable")]
        restored: list[_Item] = []
        reports: list[Report] = []
        for index, (old, entries) in enumerate(sorted(by_session.items()), start=1):
            session = -index  # earlier page loads' sessions never collide with this tracker's
            last = entries[-1]
            known = old in locations
            if now - int(last["ts"]) > MAX_EVENT_AGE_MS or (not known and entries[0]["type"] != "sessionStart"):
                reports += [Report("dropped", e["type"], session, message="not sent: stored by an earlier page "
                                   "and too old for its session (10 min)") for e in entries]
                continue
            if known:
                self._sessions[session] = locations[old]
            for entry in entries:
                event = ApiEvent(EventType(entry["type"]), float(entry["playhead"]), int(entry["ts"]), session)
                restored.append(_Item(event, str(entry["body"]).encode()))
            if last["type"] != EventType.SESSION_END.value:
                end = ApiEvent(EventType.SESSION_END, float(last["playhead"]), int(last["ts"]) + 1, session)
                restored.append(_Item(end, _wire.encode(_wire.to_body(end))))
        self._queue.extendleft(reversed(restored))
        return reports

    def retry_now(self) -> None:
        """The network is back: end the head's backoff early, and start its backoff over. An
        attempt still in flight was made before: if it fails, the next one goes at once rather
        than after a backoff grown while offline (up to 30 s)."""
        if not self._queue:
            return
        head = self._queue[0]
        head.backoff = 0
        if self._in_flight is None:
            head.not_before = 0
        else:
            head.at_once = True

    def timeout(self, configured: float) -> float:
        """How long the request in flight may wait for its answer. A sessionStart waits longer
        (SESSION_START_TIMEOUT): given up while the server may still answer, it could be a
        session that exists with a sid we never learn, and its retry would open a second one
        for the same viewing (spec §1.5, §4.1)."""
        if self._in_flight is not None and self._in_flight.event.type is EventType.SESSION_START:
            return max(configured, SESSION_START_TIMEOUT)
        return configured

    @property
    def busy(self) -> bool:
        return self._in_flight is not None

    @property
    def next_deadline(self) -> int | None:
        if self._in_flight is not None or not self._queue or self.consent != "granted":
            return None
        return self._queue[0].not_before

    def next_request(self, now: int) -> HttpRequest | None:
        """The request to send now, or None (one already in flight, queue empty, backing off,
        no consent yet)."""
        if self._in_flight is not None or not self._queue or self.consent != "granted":
            return None
        head = self._queue[0]
        if head.not_before > now:
            return None
        url = self._url(head.event)
        if url is None:  # its sessionStart failed for good; _fail_session dropped the rest
            raise AssertionError("event queued for a session that has no sid")
        self._in_flight = head
        self._sent_at = now
        return HttpRequest("POST", url, head.body, {"Content-Type": _wire.JSON_CONTENT_TYPE})

    def _url(self, event: ApiEvent) -> str | None:
        """Where ``event`` goes: None for an event whose session has no sid yet."""
        if event.type is EventType.SESSION_START:
            return _wire.sessions_url(self._api_base)
        location = self._sessions.get(event.session)
        return location.events_url if location is not None else None

    def on_response(self, response: HttpResponse, now: int) -> list[Report]:
        item = self._take_in_flight()
        if not self._queue or self._queue[0] is not item:
            return []  # handed over to the page while under way
        event = item.event
        is_start = event.type is EventType.SESSION_START
        verdict = classify(response.status, is_session_start=is_start)
        latency = now - self._sent_at
        if verdict is Verdict.RETRY:
            retry_after = retry_after_seconds(response.header("retry-after"), now)
            return [self._retry(item, now, response.status, _message(response), retry_after)]
        self._queue.popleft()
        report = functools.partial(Report, event_type=event.type.value, session=event.session,
                                   status=response.status, latency_ms=latency, attempt=item.attempts,
                                   playhead=event.playhead)
        if verdict is Verdict.DELIVERED and is_start:
            location = _wire.parse_location(response.header("location"), _wire.sessions_url(self._api_base))
            if location is None:
                return [report("rejected", message=LOCATION_UNREADABLE), *self._fail_session(event.session)]
            self._sessions[event.session] = location
            return [report("session", sid=location.sid)]
        if verdict is Verdict.DELIVERED:
            return [report("sent", sid=self.sid(event.session))]
        if verdict is Verdict.SESSION_GONE:
            reports = [report("session-gone", message=_message(response), sid=self.sid(event.session))]
            self.orphans = [event] if event.type in REISSUED else []
            return reports + self._fail_session(event.session, reason="the server no longer knows the session; "
                                                "the new session re-states what is still true", reissue=True)
        reports = [report("rejected", message=_message(response), sid=self.sid(event.session))]
        if is_start:
            reports += self._fail_session(event.session)
        return reports

    def on_error(self, message: str, now: int) -> list[Report]:
        """The request got no HTTP answer (network down, timeout, CORS refusal)."""
        item = self._take_in_flight()
        if not self._queue or self._queue[0] is not item:
            return []  # handed over to the page while under way
        return [self._retry(item, now, None, message[:MESSAGE_LIMIT] or "network error", None)]

    def _take_in_flight(self) -> _Item:
        item = self._in_flight
        if item is None:
            raise RuntimeError("no request is in flight")
        self._in_flight = None
        item.attempts += 1
        return item

    def _retry(self, item: _Item, now: int, status: int | None, message: str, retry_after: float | None) -> Report:
        event = item.event
        if now - event.ts > MAX_EVENT_AGE_MS:
            self._queue.popleft()
            reason = f"gave up after {item.attempts} attempts over 10 minutes ({message})"
            report = Report("dropped", event.type.value, event.session, status, reason, attempt=item.attempts)
            if event.type is EventType.SESSION_START:
                self._fail_session(event.session)
            return report
        if item.at_once:  # an attempt made before the network came back: it does not count
            delay, item.at_once = 0.0, False
        else:
            delay = backoff_delay(item.backoff, self._rand())
            item.backoff += 1
        if retry_after is not None:
            delay = max(delay, retry_after)
        item.not_before = now + int(delay * 1000)
        return Report("retry", event.type.value, event.session, status, message,
                      attempt=item.attempts, retry_in_ms=int(delay * 1000), playhead=event.playhead)

    def _fail_session(self, session: int, reason: str = "its sessionStart was not accepted", *,
                      reissue: bool = False) -> list[Report]:
        """Drop the queued events of a session that will deliver nothing more (no sid, or lost by
        the server), each with a report; with ``reissue`` those in REISSUED become ``orphans``."""
        kept: deque[_Item] = deque()
        dropped: list[Report] = []
        for item in self._queue:
            if item.event.session != session:
                kept.append(item)
            elif reissue and item.event.type in REISSUED:
                self.orphans.append(item.event)
            else:
                dropped.append(Report("dropped", item.event.type.value, session, message=f"not sent: {reason}"))
        self._queue = kept
        self._sessions.pop(session, None)
        return dropped


def _message(response: HttpResponse) -> str:
    """The server's error message: {"message": ...} as the API documents, else the text."""
    text = response.body.decode("utf-8", "replace").strip()
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        text = decoded["message"]
    return text[:MESSAGE_LIMIT] or f"HTTP {response.status}"
