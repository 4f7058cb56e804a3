"""The page-close plan: what the shim sends or stores on its own is what Python would have sent.

The shim fills the plan's slots (shim.js, ``fill``/``handOver``); ``fill`` below does the same
here, so the plan's data can be checked against the tracker and the outbox themselves. The
browser tests (tests/browser/test_page_death.py) run the real shim.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mediacollect import EventType, Observation, Outbox, PlayerEvent, Tracker, _handover, _wire
from mediacollect.transport import HttpResponse
from tests.core.harness import CONFIG, T0
from tests.core.test_event_time import MEDIA, viewing

KINDS = frozenset({"pause", "play", "waiting", "ended"})
RECORD = {"pause": (PlayerEvent.PAUSE, True), "play": (PlayerEvent.PLAY, False),
          "waiting": (PlayerEvent.WAITING, False), "ended": (PlayerEvent.ENDED, True)}


def fill(text: str, **slots: Any) -> str:
    """The shim's slot filling: each ``"@name"`` becomes the JSON of its value, as JavaScript
    writes it (a whole number without a fraction)."""
    def js(value: Any) -> str:
        return json.dumps(int(value) if isinstance(value, float) and value.is_integer() else value)

    return re.sub(r'"@(\w+)"', lambda m: js(slots[m[1]]) if m[1] in slots else m[0], text)


def watched(actions: list[tuple[str, int]]) -> tuple[Tracker, int]:
    tracker = Tracker(CONFIG, MEDIA)
    last = T0
    for obs in viewing(actions):
        tracker.tick(obs.ts)
        tracker.observe(obs)
        last = obs.ts
    return tracker, last


actions = st.lists(st.tuples(st.sampled_from(["play", "pause", "seek", "wait"]), st.integers(50, 4000)),
                   max_size=8)


@settings(max_examples=60, deadline=None)
@given(actions, st.integers(1, 3000), st.floats(0.0, 500.0).map(lambda p: round(p, 3)))
def test_a_template_filled_in_is_the_body_the_tracker_would_send(steps: list[tuple[str, int]], gap: int,
                                                                 playhead: float) -> None:
    """For every kind of record a template is made for, in whatever state a generated viewing
    left the tracker: the filled template equals, byte for byte, what the tracker itself emits
    for that record at that moment and position."""
    tracker, last = watched(steps)
    if tracker.page_close_spec() is None:
        return  # no session: the plan carries no template (a play would open one)
    now = last + gap
    table = _handover.templates(tracker, KINDS, now)
    for kind, (event, paused) in RECORD.items():
        real = copy.deepcopy(tracker)
        real.tick(now)
        obs = Observation(event, now, playhead, duration=MEDIA.length,
                          paused=paused,
                          ended=event is PlayerEvent.ENDED, seeking=event is PlayerEvent.SEEKING)
        expected = [_wire.encode(_wire.to_body(e)).decode() for e in real.observe(obs)]
        made = [fill(t["body"], ts=now + t["dt"], playhead=playhead if t["frozen"] is None else round(t["frozen"], 3))
                for t in table[kind]]
        assert made == expected, kind


def test_the_plan_lists_what_waits_and_stores_it_in_a_form_the_next_page_restores() -> None:
    tracker = Tracker(CONFIG, MEDIA)
    outbox = Outbox(CONFIG.api_base)
    outbox.push(tracker.observe(Observation(PlayerEvent.PLAY, T0, 0.0, duration=MEDIA.length)))
    start = outbox.next_request(T0)
    assert start is not None
    outbox.on_response(HttpResponse(201, {"location": "/api/v1/sessions/abc"}), T0 + 5)
    outbox.push(tracker.observe(Observation(PlayerEvent.PAUSE, T0 + 3000, 3.0, paused=True)))
    request = outbox.next_request(T0 + 3000)
    assert request is not None
    outbox.push(tracker.observe(Observation(PlayerEvent.PLAY, T0 + 4000, 3.0)))
    outbox.push(tracker.observe(Observation(PlayerEvent.PLAYING, T0 + 4040, 3.0)))

    plan = _handover.plan(tracker, outbox, flight=7, store="s", next_events={})
    assert plan is not None and plan["send"] is True
    assert plan["url"] == request.url
    assert [(json.loads(i["body"])["eventType"], i["flight"]) for i in plan["items"]] == \
        [("pauseStart", 7), ("play", None)]
    assert plan["end"] is not None and plan["after"] == tracker.last_ts
    # What the shim stores: the items, then the sessionEnd it filled in, restored by the next page.
    end_body = fill(plan["end"]["body"], ts=T0 + 5000, playhead=4.0)
    entries = [plan["items"][1]["entry"], fill(plan["end"]["entry"], ts=T0 + 5000, playhead=4.0, body=end_body)]
    stored = json.loads(plan["snapshot"].replace('"@items"', f"[{','.join(entries)}]"))
    later = Outbox(CONFIG.api_base)
    assert later.restore(stored, T0 + 6000) == []
    resent = []
    while (req := later.next_request(T0 + 6000)) is not None:
        resent.append(json.loads(req.body))
        later.on_response(HttpResponse(204, {}), T0 + 6001)
    assert [b["eventType"] for b in resent] == ["play", "sessionEnd"]
    assert resent[1]["playerTime"] == {"playhead": 4.0, "ts": T0 + 5000}
    assert all(req_url == request.url for req_url in [plan["items"][1]["url"]])


def test_the_page_stores_rather_than_sends_while_the_api_fails() -> None:
    tracker = Tracker(CONFIG, MEDIA)
    outbox = Outbox(CONFIG.api_base)
    outbox.push(tracker.observe(Observation(PlayerEvent.PLAY, T0, 0.0, duration=MEDIA.length)))
    assert outbox.next_request(T0) is not None
    outbox.on_error("offline", T0 + 10)
    plan = _handover.plan(tracker, outbox, flight=None, store="s", next_events={})
    assert plan is not None and plan["send"] is False
    assert plan["url"] is None and plan["items"][0]["url"] == _wire.sessions_url(CONFIG.api_base)


def test_nothing_to_hand_over_is_no_plan() -> None:
    assert _handover.plan(Tracker(CONFIG, MEDIA), Outbox(CONFIG.api_base), flight=None, store="s",
                          next_events={}) is None


def test_an_answer_after_the_hand_over_changes_nothing() -> None:
    tracker = Tracker(CONFIG, MEDIA)
    outbox = Outbox(CONFIG.api_base)
    outbox.push(tracker.observe(Observation(PlayerEvent.PLAY, T0, 0.0, duration=MEDIA.length)))
    assert outbox.next_request(T0) is not None
    outbox.hand_over()
    assert outbox.on_error("cut off", T0 + 5) == []
    assert len(outbox) == 0 and not outbox.busy and outbox.next_request(T0 + 10) is None


def test_a_template_refuses_a_value_that_reads_like_a_slot() -> None:
    from mediacollect._events import ApiEvent

    event = ApiEvent(EventType.STATE_START, 1.0, T0, 1, state_name="@ts")
    try:
        _wire.template(event)
    except ValueError:
        return
    raise AssertionError("a state named like a slot was accepted")


@settings(max_examples=40, deadline=None)
@given(actions, st.integers(1, 3000), st.sets(st.sampled_from(["mute", "fullScreen"])),
       st.sets(st.sampled_from(["mute", "fullScreen"])))
def test_state_templates_are_the_state_events_the_tracker_would_send(steps: list[tuple[str, int]], gap: int,
                                                                     before: set[str], after: set[str]) -> None:
    """A record that changes the element's states (mute, full screen): the page applies the end
    templates, then the start ones, of the flags that changed; byte for byte the tracker's."""
    tracker, last = watched(steps)
    if tracker.page_close_spec() is None:
        return
    tracker.observe(Observation(PlayerEvent.STATE, last + 1, 1.0, states=frozenset(before)))
    now = last + 1 + gap
    flags = {"muted": "mute", "fullscreen": "fullScreen"}
    table = _handover.state_templates(tracker, flags, now)
    real = copy.deepcopy(tracker)
    real.tick(now)
    expected = [_wire.encode(_wire.to_body(e)).decode()
                for e in real.observe(Observation(PlayerEvent.STATE, now, 2.5, states=frozenset(after)))]
    made = []
    for turn in ("end", "start"):
        for flag, name in sorted(flags.items()):
            if (name in after) != table[flag]["on"] and (name in after) == (turn == "start"):
                made += [fill(t["body"], ts=now + t["dt"], playhead=2.5) for t in table[flag][turn]]
    made_ts = [json.loads(m)["playerTime"]["ts"] for m in made]
    # the page stamps each after the one before (1 ms apart), as the tracker does
    made = [fill(re.sub(r'"ts":\d+', '"ts":"@ts"', m), ts=now + i) for i, m in enumerate(made)] if made_ts else made
    assert made == expected
