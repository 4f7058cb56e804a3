"""What the page does on its own when it goes away: the plan the shim is armed with.

The worker may die with the page (a closed tab, a reload, a navigation) and cannot be asked
anything on ``pagehide``. So Python keeps the shim armed, per tracked element, with a plan it
prepared and validated here, and the shim (``shim.js``) carries it out knowing no field name
and no rule of the protocol; it only fills ``ts`` and playhead slots and picks entries:

* ``items``: the undelivered events in order, each with its events URL (None until its
  session's sid is known), its body, its stored form, and the request it is in (``flight``).
  A request under way is left alone: it was sent with ``keepalive`` and outlives the page.
* ``next``: for the records the worker may not have taken in yet (a state change in the last
  moment, or while Python was busy), the events the tracker would send for the first of them,
  as templates: its ``ts`` is the record's (plus ``dt``), its playhead the record's (or
  ``frozen``). Built by running a copy of the tracker over a typical observation of each kind.
* ``end``: the open session's ``sessionEnd`` template.
* ``send``: whether to send at all (the API answered the last attempt); otherwise, or past
  the keepalive budget, or without an events URL, the entry and everything after it is stored:
  ``snapshot`` with its ``"@items"`` slot replaced by the stored entries, for the next page
  of this origin to deliver (``Outbox.restore``), once.
"""

from __future__ import annotations

import copy
import json
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
ITEMS_SLOT = "@items"  # the snapshot's list of stored entries, filled by the page
# A playhead no element reports: a template event carrying it takes the record's playhead.
_PROBE_PLAYHEAD = 86_399.123
# The records a template is prepared for: (observation, the element's paused flag; None = as now).
_TEMPLATED: dict[str, tuple[PlayerEvent, bool | None]] = {
    "pause": (PlayerEvent.PAUSE, True),
    "play": (PlayerEvent.PLAY, False),
    "waiting": (PlayerEvent.WAITING, False),
    "seeking": (PlayerEvent.SEEKING, None),
    "ended": (PlayerEvent.ENDED, True),
}


def templates(tracker: Tracker, kinds: frozenset[str], now: int) -> dict[str, list[dict[str, Any]]]:
    """The events a record of each kind in ``kinds`` would make the tracker send now, as
    templates (``dt``: ms after the record's ts; ``frozen``: the playhead, when it is not the
    record's). Kinds whose events cannot be made a template are left out."""
    table: dict[str, list[dict[str, Any]]] = {}
    for kind in sorted(kinds & _TEMPLATED.keys()):
        event, paused = _TEMPLATED[kind]
        probe = copy.deepcopy(tracker)
        probe.tick(now)  # what fell due is not the record's
        if paused is None:
            paused = probe.state is Playback.PAUSED
        obs = Observation(event, now, _PROBE_PLAYHEAD, paused=paused, ended=event is PlayerEvent.ENDED,
                          seeking=event is PlayerEvent.SEEKING)
        try:
            events = probe.observe(obs)
            table[kind] = [_template(e, e.ts - now, None if e.playhead == _PROBE_PLAYHEAD else e.playhead)
                           for e in events]
        except ValueError:
            continue  # not expressible as a template (a value that reads like a slot): not handed over
    return table


def _template(event: ApiEvent, dt: int, frozen: float | None) -> dict[str, Any]:
    return {"dt": dt, "frozen": frozen, "body": _wire.template(event), "entry": _entry_template(event)}


def _entry_template(event: ApiEvent) -> str:
    form = entry(event, "@body")
    form.update(ts=_wire.TS_SLOT, playhead=_wire.PLAYHEAD_SLOT)
    return json.dumps(form)


def plan(tracker: Tracker, outbox: Outbox, *, flight: int | None, store: str,
         next_events: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """The shim's plan for this element now (see the module docstring), or None when there is
    nothing to deliver and no session to end. ``flight``: the page's id of the request under
    way; ``next_events``: ``templates`` for the tracker as it is now."""
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
        "live": tracker.is_live,
        "keep": MAX_EVENT_AGE_MS,
        "store": store,
        "items": [{"url": p.url, "body": p.body, "entry": json.dumps(entry(p.event, p.body)),
                   "flight": flight if p.in_flight else None} for p in pending],
        "next": next_events if open_session else {},
        "end": None if end is None else {
            "frozen": end.frozen, "body": end.body,
            "entry": _entry_template(ApiEvent(EventType.SESSION_END, 0.0, 0, tracker.session))},
        "snapshot": json.dumps(outbox.snapshot_of(ITEMS_SLOT, sessions)),
    }
