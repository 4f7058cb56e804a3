"""The page-close plan: what the shim sends or stores on its own is what Python would have sent.

The shim fills the plan's slots (shim.js, ``fill``/``handOver``); ``fill`` below does the same
here, so the plan's data can be checked against the tracker and the outbox themselves. The
browser tests (tests/browser/test_page_death.py) run the real shim.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mediacollect import EventType, MediaConfig, Observation, Outbox, PlayerEvent, Tracker, _handover, _wire
from mediacollect.transport import HttpResponse
from tests.core.harness import CLIP as MEDIA
from tests.core.harness import CONFIG, T0, viewing

KINDS = frozenset({"pause", "play", "waiting", "ended"})
RECORD = {"pause": (PlayerEvent.PAUSE, True), "play": (PlayerEvent.PLAY, False),
          "waiting": (PlayerEvent.WAITING, False), "ended": (PlayerEvent.ENDED, True)}


def fill(text: str, **slots: Any) -> str:
    """The shim's slot filling: each ``"@name"`` becomes the JSON of its value, as JavaScript
    writes it (a whole number without a fraction)."""
    def js(value: Any) -> str:
        return json.dumps(int(value) if isinstance(value, float) and value.is_integer() else value)

    return re.sub(r'"@(\w+)"', lambda m: js(slots[m[1]]) if m[1] in slots else m[0], text)


def shim_playhead(plan: dict[str, Any], template: dict[str, Any], ts: int, position: float) -> float:
    """The playhead the shim puts in a template's slot (shim.js ``emit``), in the same IEEE
    operations: the frozen one, the live second of the day (of the stream position when the plan
    has the stream's clock, else of ``ts``) or the position, to the millisecond halves up."""
    clock = plan["clock"]
    if template["frozen"] is not None:
        at = template["frozen"]
    elif clock is None:
        at = position
    else:
        origin = clock["origin"]
        at = ((ts if origin is None else origin + math.floor(position * 1000 + 0.5)) % 86_400_000) / 1000
    return math.floor(at * 1000 + 0.5) / 1000


def watched(actions: list[tuple[str, int]], *, live: bool = False, origin: int | None = None) -> tuple[Tracker, int]:
    """A tracker after a generated viewing; ``live``: of a live stream (the player says so, and
    gives the stream's clock when ``origin`` is set)."""
    tracker = Tracker(CONFIG, MediaConfig(id=MEDIA.id) if live else MEDIA)
    if live:
        tracker.note_stream(T0, live=True, origin=origin)
    last = T0
    for obs in viewing(actions):
        tracker.tick(obs.ts)
        tracker.observe(obs)
        last = obs.ts
    return tracker, last


actions = st.lists(st.tuples(st.sampled_from(["play", "pause", "seek", "wait"]), st.integers(50, 4000)),
                   max_size=8)


# Any position, not only whole milliseconds: the shim and the tracker round each the same way,
# exact halves of a millisecond included (n/16 s: 62.5 ms steps, a tie at every odd n).
positions = st.one_of(st.floats(0.0, 500.0), st.integers(0, 8000).map(lambda n: n / 16))
clocks = st.one_of(st.none(), st.just("wall"), st.integers(0, 2**41))


@settings(max_examples=80, deadline=None)
@given(actions, st.integers(1, 3000), positions, clocks)
def test_a_template_filled_in_is_the_body_the_tracker_would_send(steps: list[tuple[str, int]], gap: int,
                                                                 playhead: float, clock: int | str | None) -> None:
    """For every kind of record a template is made for, in whatever state a generated viewing
    left the tracker (VOD, or live with or without the stream's clock): the template filled in as
    the shim does equals, byte for byte, what the tracker itself emits for that record at that
    moment and position."""
    tracker, last = watched([("play", 40), *steps], live=clock is not None,
                            origin=clock if isinstance(clock, int) else None)
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
        plan = _handover.plan(tracker, Outbox(CONFIG.api_base), store="s", next_events={})
        assert plan is not None
        made = [fill(t["body"], ts=now + t["dt"], playhead=shim_playhead(plan, t, now + t["dt"], playhead))
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

    plan = _handover.plan(tracker, outbox, store="s", next_events={})
    assert plan is not None and plan["send"] is True
    assert plan["url"] == request.url
    assert [json.loads(i["body"])["eventType"] for i in plan["items"]] == ["pauseStart", "play"]
    assert plan["items"][0]["body"] == request.body.decode(), "the page knows it by its body: it is on its way"
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
    plan = _handover.plan(tracker, outbox, store="s", next_events={})
    assert plan is not None and plan["send"] is False
    assert plan["url"] is None and plan["items"][0]["url"] == _wire.sessions_url(CONFIG.api_base)


def test_nothing_to_hand_over_is_no_plan() -> None:
    assert _handover.plan(Tracker(CONFIG, MEDIA), Outbox(CONFIG.api_base), store="s", next_events={}) is None


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
    assume(not real.tick(now))  # a ping due at that moment would come first (the page sends none)
    expected = [_wire.encode(_wire.to_body(e)).decode()
                for e in real.observe(Observation(PlayerEvent.STATE, now, 2.5, states=frozenset(after)))]
    made, last = [], tracker.last_ts  # the plan's "after": each stamped after the one before
    for turn in ("end", "start"):
        for flag, name in sorted(flags.items()):
            if (name in after) != table[flag]["on"] and (name in after) == (turn == "start"):
                for t in table[flag][turn]:
                    last = max(now + t["dt"], last + 1)
                    made.append(fill(t["body"], ts=last, playhead=2.5))
    assert made == expected
