"""Random viewings (Hypothesis stateful): player events, integrator calls and clock jumps in any
order. Whatever happens, the protocol's invariants hold for every session the tracker emits."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mediacollect import (
    AdBreakInfo,
    AdInfo,
    ApiEvent,
    ChapterInfo,
    EventType,
    PlayerEvent,
    UsageError,
    to_body,
    validate_body,
)
from mediacollect._state import SEEK_SETTLE_MS
from tests.core.harness import CONFIG, MEDIA, Run

E = EventType
P = PlayerEvent
AD_EVENTS = {E.AD_BREAK_START: "B", E.AD_START: "S", E.AD_COMPLETE: "C", E.AD_SKIP: "K", E.AD_BREAK_COMPLETE: "E"}
# A session's ad events: breaks, each holding ads that each end in complete/skip; the last
# break (and ad) may be left open when the session ends (timeline 2).
AD_GRAMMAR = re.compile(r"^(B(S[CK])*E)*(B(S[CK])*S?)?$")
STATES = ["mute", "fullScreen", "pictureInPicture", "closedCaptioning", "inFocus"]


def sessions(events: list[ApiEvent]) -> dict[int, list[ApiEvent]]:
    grouped: dict[int, list[ApiEvent]] = {}
    for event in events:
        grouped.setdefault(event.session, []).append(event)
    return grouped


class Viewing(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.run = Run.new()
        self.t = 0.0
        self.playhead = 0.0
        self.paused = True
        self.ads = 0

    def step(self, dt: float) -> float:
        self.t += dt
        if not self.paused:
            self.playhead = min(MEDIA.length or 60.0, self.playhead + dt)
        return self.t

    def player(self, dt: float, event: PlayerEvent, **extra: object) -> None:
        t = self.step(dt)
        self.run.player(t, event, self.playhead, paused=self.paused, **extra)

    def integrator(self, dt: float, method: str, *args: object) -> None:
        t = self.step(dt)
        before = list(self.run.events)
        self.run.advance(t)
        before = list(self.run.events)
        try:
            self.run.call(t, getattr(self.run.tracker, method), *args)
        except UsageError:
            assert self.run.events == before, "a refused call must not emit anything"

    delays = st.floats(min_value=0, max_value=15, allow_nan=False)

    @rule(dt=delays)
    def play(self, dt: float) -> None:
        self.player(dt, P.PLAY)
        self.paused = False
        self.player(0.05, P.PLAYING)

    @rule(dt=delays)
    def pause(self, dt: float) -> None:
        self.paused = True
        self.player(dt, P.PAUSE)

    @rule(dt=delays)
    def stall_and_recover(self, dt: float) -> None:
        self.player(dt, P.WAITING)
        self.player(dt / 2, P.PLAYING)

    @rule(dt=delays, to=st.floats(min_value=0, max_value=59, allow_nan=False), storm=st.integers(1, 5))
    def seek(self, dt: float, to: float, storm: int) -> None:
        for _ in range(storm):
            self.player(dt if _ == 0 else 0.05, P.SEEKING)
            self.playhead = to
            self.player(0.02, P.SEEKED)
        self.step(SEEK_SETTLE_MS / 1000 + 0.01)

    @rule(dt=delays)
    def ended(self, dt: float) -> None:
        self.playhead = MEDIA.length or 60.0
        self.paused = True
        self.player(dt, P.ENDED, ended=True)

    @rule(dt=delays, code=st.integers(1, 4))
    def player_error(self, dt: float, code: int) -> None:
        self.player(dt, P.ERROR, error_code=code)

    @rule(dt=delays)
    def page_closes(self, dt: float) -> None:
        self.player(dt, P.TEARDOWN)

    @rule(dt=delays, index=st.integers(0, 3))
    def ad_break(self, dt: float, index: int) -> None:
        self.integrator(dt, "start_ad_break", AdBreakInfo(index, friendly_name="pod"))

    @rule(dt=delays)
    def ad(self, dt: float) -> None:
        self.ads += 1
        self.integrator(dt, "start_ad", AdInfo(f"ad{self.ads}", 10, self.ads, "player"))

    @rule(dt=delays, how=st.sampled_from(["complete_ad", "skip_ad", "complete_ad_break"]))
    def end_ad(self, dt: float, how: str) -> None:
        self.integrator(dt, how)

    @rule(dt=delays, index=st.integers(1, 5))
    def chapter(self, dt: float, index: int) -> None:
        self.integrator(dt, "start_chapter", ChapterInfo(index, index * 10.0, 10.0))

    @rule(dt=delays, how=st.sampled_from(["complete_chapter", "skip_chapter"]))
    def end_chapter(self, dt: float, how: str) -> None:
        self.integrator(dt, how)

    @rule(dt=delays, name=st.sampled_from(STATES), start=st.booleans())
    def state(self, dt: float, name: str, start: bool) -> None:
        self.integrator(dt, "start_state" if start else "end_state", name)

    @rule(dt=delays, states=st.frozensets(st.sampled_from(["mute", "fullScreen", "pictureInPicture",
                                                           "closedCaptioning"])))
    def element_states(self, dt: float, states: frozenset[str]) -> None:
        self.player(dt, P.STATE, states=states)

    @precondition(lambda self: self.run.tracker.next_deadline is not None)
    @rule(dt=st.floats(min_value=0, max_value=400, allow_nan=False))
    def time_passes(self, dt: float) -> None:
        self.run.advance(self.step(dt))

    @invariant()
    def every_body_is_valid(self) -> None:
        for event in self.run.events[-10:]:
            assert validate_body(to_body(event)) == [], to_body(event)

    @invariant()
    def ts_strictly_increases(self) -> None:
        assert all(a.ts < b.ts for a, b in pairwise(self.run.events))

    @invariant()
    def sessions_are_well_formed(self) -> None:
        for number, events in sessions(self.run.events).items():
            kinds = [e.type for e in events]
            assert kinds[0] is E.SESSION_START and kinds.count(E.SESSION_START) == 1, (number, kinds)
            for closing in (E.SESSION_END, E.SESSION_COMPLETE):
                if closing in kinds:
                    rest = kinds[kinds.index(closing) + 1:]
                    assert rest in ([], [E.SESSION_END]) if closing is E.SESSION_COMPLETE else rest == [], kinds
            ad_word = "".join(AD_EVENTS[k] for k in kinds if k in AD_EVENTS)
            assert AD_GRAMMAR.match(ad_word), (number, ad_word)
            chapters = [k for k in kinds if k in (E.CHAPTER_START, E.CHAPTER_COMPLETE, E.CHAPTER_SKIP)]
            for a, b in pairwise(chapters):
                assert not (a is not E.CHAPTER_START and b is not E.CHAPTER_START), chapters

    @invariant()
    def states_start_and_end_in_turn(self) -> None:
        for events in sessions(self.run.events).values():
            active: set[str] = set()
            for event in events:
                if event.type is E.STATE_START:
                    assert event.state_name not in active, event
                    active.add(event.state_name or "")
                elif event.type is E.STATE_END:
                    assert event.state_name in active, event
                    active.discard(event.state_name or "")

    @invariant()
    def content_playhead_is_frozen_in_ads(self) -> None:
        frozen: float | None = None
        for event in self.run.events:
            if event.type is E.AD_BREAK_START:
                frozen = event.playhead
            elif event.type in (E.AD_BREAK_COMPLETE, E.SESSION_START):
                frozen = None
            elif frozen is not None:
                assert event.playhead == frozen, (event.type, event.playhead, frozen)

    @invariant()
    def pings_keep_every_open_session_alive(self) -> None:
        limit = CONFIG.content_ping_interval * 1000 + 1
        for events in sessions(self.run.events).values():
            pings = [e.ts for e in events if e.type is E.PING]
            assert all(b - a <= limit for a, b in pairwise(pings))
            if self.run.tracker.session == events[0].session and self.run.tracker.next_deadline is not None:
                last = max(e.ts for e in events)
                assert self.run.tracker.next_deadline - last <= limit


Viewing.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestViewing = Viewing.TestCase
