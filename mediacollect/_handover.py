"""What the page does on its own when it goes away: the plan the shim is armed with.

The worker may die with the page (a closed tab, a reload, a navigation) and cannot be asked
anything on ``pagehide``. So Python keeps the shim armed, per tracked element, with a plan it
prepared and validated here, and the shim (``shim.js``) carries it out knowing no field name
and no rule of the protocol; it only fills ``ts`` and playhead slots and picks entries:

* ``items``: the undelivered events in order, each with its events URL (None until its
  session's sid is known), its body and its stored form. A body the page has already sent is
  not sent again: under way, it was sent with ``keepalive`` and outlives the page (while the API
  fails it is stored too); answered, it is sent again only if the answer says "retry" (``retry``).
* ``next``: for the records the worker may not have taken in yet (a state change in the last
  moment, or while Python was busy), the events the tracker would send for the first of them,
  as templates: its ``ts`` is the record's (plus ``dt``), its playhead the record's (or
  ``frozen``). Built by running a copy of the tracker over a typical observation of each kind.
  A template filled in is byte for byte the body the tracker would have sent, so one the
  worker did send meanwhile is recognised as sent.
* ``states``: per element flag (``muted``...), whether its standard state is on and the
  templates that start and end it: applied to every record not taken in, in order.
* ``end``: the open session's ``sessionEnd`` template.
* ``send``: whether to send at all (the API answered the last attempt); otherwise, or past
  the keepalive budget or the server's reorder ``window`` (events sent at once), or without an
  events URL, the entry and everything after it is stored:
  ``snapshot`` with its ``"@items"`` slot replaced by the stored entries, for the next page
  of this origin to deliver (``Outbox.restore``), once.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from . import _wire
from ._events import ApiEvent, EventType, Observation, PlayerEvent
from ._outbox import MAX_EVENT_AGE_MS, Outbox, entry
from ._retry import Verdict, classify
from ._state import OPEN_STATES, Playback
from ._tracker import Tracker

# Statuses whose answer means "not delivered, try again": a request answered so before the page
# went, its answer not yet handled, is sent again by the page.
RETRY_STATUSES = tuple(s for s in range(100, 600) if classify(s, is_session_start=False) is Verdict.RETRY)
# Spec §4.9: the server sorts each session's events by ts within a window of 10 events (or 5 s).
# Requests sent at once, on the page's way out, arrive in any order, into a window that events
# sent just before may half fill: no more than half of it go at once.
AT_ONCE = 5
ITEMS_SLOT = "@items"  # the snapshot's list of stored entries, filled by the page
# The playhead a record is tried with: an event reporting it takes the record's (a frozen ad
# playhead of exactly this value would be taken for the record's: harmless, and never seen).
_PROBE_PLAYHEAD = 0.125
# The records a template is prepared for: (observation, the element's paused flag).
_TEMPLATED: dict[str, tuple[PlayerEvent, bool]] = {
    "pause": (PlayerEvent.PAUSE, True),
    "play": (PlayerEvent.PLAY, False),
    "waiting": (PlayerEvent.WAITING, False),
    "ended": (PlayerEvent.ENDED, True),
}
# Not "seeking": its pauseStart reports where playback stopped, which moves with the time of the
# record, not with anything the record carries.


def templates(tracker: Tracker, kinds: frozenset[str], now: int) -> dict[str, list[dict[str, Any]]]:
    """The events a record of each kind in ``kinds`` would make the tracker send now, as
    templates (``dt``: ms after the record's ts; ``frozen``: the playhead, when it is not the
    record's). Kinds whose events cannot be made a template are left out."""
    table: dict[str, list[dict[str, Any]]] = {}
    for kind in sorted(kinds & _TEMPLATED.keys()):
        event, paused = _TEMPLATED[kind]
        probe = copy.deepcopy(tracker)
        probe.tick(now)  # what fell due is not the record's
        try:
            table[kind] = [_template(tracker, e, e.ts - now) for e in probe.observe(
                Observation(event, now, _PROBE_PLAYHEAD, paused=paused, ended=event is PlayerEvent.ENDED))]
        except ValueError:
            continue  # not expressible as a template (a value that reads like a slot): not handed over
    return table


def state_templates(tracker: Tracker, flags: Mapping[str, str], now: int) -> dict[str, dict[str, Any]]:
    """For each element flag the page reports (``flags``: record field -> standard state name),
    whether its state is on now and the templates of the events that turn it on and off: the page
    applies them to every record not taken in, in order, as the tracker would (ends first)."""
    table: dict[str, dict[str, Any]] = {}
    current = tracker.element_states
    for flag, name in sorted(flags.items(), key=lambda item: item[1]):  # the tracker's order: by name
        probe = copy.deepcopy(tracker)
        probe.tick(now)
        turns: dict[str, list[dict[str, Any]]] = {}
        try:
            # Off, on, off again: the events of each turn, stamped at the record's ts.
            for turn, states in (("", current - {name}), ("start", current | {name}), ("end", current - {name})):
                events = probe.observe(Observation(PlayerEvent.STATE, now, _PROBE_PLAYHEAD, states=states))
                if turn:
                    turns[turn] = [_template(tracker, e, e.ts - events[0].ts) for e in events]
        except ValueError:
            continue
        table[flag] = {"on": name in current, **turns}
    return table


def _template(tracker: Tracker, event: ApiEvent, dt: int) -> dict[str, Any]:
    """``frozen``: the playhead an event reports whatever the record's (an ad's), else None: the
    page puts the record's there (or, live, the second of the day)."""
    follows = event.playhead == _PROBE_PLAYHEAD or (tracker.is_live and not tracker.in_ad_break)
    return {"dt": dt, "frozen": None if follows else event.playhead, "body": _wire.template(event),
            "entry": _entry_template(event)}


def _entry_template(event: ApiEvent) -> str:
    form = entry(event, "@body")
    form.update(ts=_wire.TS_SLOT, playhead=_wire.PLAYHEAD_SLOT)
    return json.dumps(form)


def plan(tracker: Tracker, outbox: Outbox, *, store: str,
         next_events: dict[str, list[dict[str, Any]]],
         next_states: dict[str, dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The shim's plan for this element now (see the module docstring), or None when there is
    nothing to deliver and no session to end. ``next_events``, ``next_states``: ``templates``
    and ``state_templates`` for the tracker as it is now."""
    pending = outbox.pending()
    open_session = tracker.state in OPEN_STATES or tracker.state is Playback.COMPLETE
    if not pending and not open_session:
        return None
    location = outbox.location(tracker.session)
    end = tracker.page_close_spec()
    sessions = {p.event.session for p in pending} | ({tracker.session} if open_session else set())
    return {
        "url": location.events_url if location is not None else None,
        "send": not outbox.failing,
        "retry": RETRY_STATUSES,
        "headers": {"Content-Type": _wire.JSON_CONTENT_TYPE},
        "after": tracker.last_ts,
        # A live playhead is a second of the day: of the stream position when the player gave
        # the stream's clock (its UTC ms at position 0), else of the moment (``_stream``).
        "clock": {"origin": tracker.stream_origin} if tracker.is_live else None,
        "keep": MAX_EVENT_AGE_MS,
        "window": AT_ONCE,
        "store": store,
        "items": [{"url": p.url, "body": p.body, "entry": json.dumps(entry(p.event, p.body))} for p in pending],
        "next": next_events if open_session else {},
        "states": (next_states or {}) if open_session else {},
        "end": None if end is None else {
            "frozen": end.frozen, "body": end.body,
            "entry": _entry_template(ApiEvent(EventType.SESSION_END, 0.0, 0, tracker.session))},
        "snapshot": json.dumps(outbox.undelivered_of(ITEMS_SLOT, sessions)),
    }
