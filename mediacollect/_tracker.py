"""The tracker: player observations and ``now`` in, API events and the next deadline out.

No I/O, no clock, no timers: the caller passes the time of every observation and calls
``tick(now)`` when ``next_deadline`` comes (h11's sans-I/O shape). Which step an observation
takes and where each step, deadline, seek and renewal leaves playback is looked up in the tables
of ``_state``; ``Tracker._enter`` is the one place the state changes. The tracker is the façade
of small parts, one job each: the ping clock (``_pings``), seek settling (``_seeks``), the stall
watch (``_stall``), the ads, chapter and player states (``_context``), the QoE meter (``_qoe``)
and the live stream's clock (``_stream``). Every event it returns has passed ``rules.validate_body``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Concatenate, ParamSpec

from . import _wire, rules
from ._config import MediaConfig, TrackerConfig
from ._context import AdsAndChapter, PlayerStates
from ._errors import UsageError, ValidationError
from ._events import (
    AdBreakInfo,
    AdInfo,
    ApiEvent,
    ChapterInfo,
    EventType,
    Observation,
    PlayerEvent,
    Qoe,
    SessionParams,
)
from ._lazy import lazy_dataclass
from ._pings import PingClock
from ._qoe import QoeMeter
from ._seeks import SeekSettling
from ._stall import StallWatch
from ._state import (
    ADVANCING_STATES,
    ARRIVAL_RULES,
    DEADLINE_ORDER,
    DEADLINE_TRANSITIONS,
    DESTINATION_EVENTS,
    ENDABLE_STATES,
    IDLE_STATES,
    MOVE_ENDS_BUFFERING,
    OPEN_STATES,
    PLAYBACK_RULES,
    PLAYER_TRANSITIONS,
    RESUMED,
    SEEK_SETTLED,
    STEP_TRANSITIONS,
    Deadline,
    Fact,
    Playback,
    Step,
    first_rule,
    playing_at_renewal,
)
from ._stream import DAY_MS, StreamClock
from ._version import __version__

LIVE_CONTENT_TYPES = frozenset({"live", "linear"})
LIVE_LENGTH = DAY_MS / 1000  # spec §3.3: live of unknown length is a day long
MAX_HELD_OBSERVATIONS = 200  # observations kept while the media length is still unknown
# Time-driven events one catch-up may produce (a settle, a stall, an expiry or a renewal, pings):
# a bound, so a clock that jumps cannot loop.
MAX_DUE_STEPS = 16

_P = ParamSpec("_P")


def _in_time(method: Callable[Concatenate[Tracker, _P], list[ApiEvent]],
             ) -> Callable[Concatenate[Tracker, _P], list[ApiEvent]]:
    """Every entry point is a moment: what fell due before it (a ping, a settled seek, an expiry)
    is emitted first, at its own time, then the call's own events (spec §4.2, §4.9: each event
    carries the moment it happened and events keep their order). A call that raises leaves what
    fell due waiting for the next call, never lost."""
    names = list(inspect.signature(method).parameters)[1:]
    key = "obs" if "obs" in names else "now"
    index = names.index(key)

    @functools.wraps(method)
    def wrapper(self: Tracker, /, *args: _P.args, **kwargs: _P.kwargs) -> list[ApiEvent]:
        value = kwargs[key] if key in kwargs else args[index]
        moment = value.ts if isinstance(value, Observation) else value
        self._overdue += self._due(int(moment))  # type: ignore[call-overload]
        out = method(self, *args, **kwargs)
        overdue, self._overdue = self._overdue, []
        return overdue + out

    return wrapper


@lazy_dataclass
class PageClose:
    """How the page ends the open session on its own (``Tracker.page_close_spec``)."""

    body: str  # the sessionEnd body, its ts and playhead as slots (_wire.template)
    frozen: float | None  # the playhead to report, when it is frozen (an ad)


class Tracker:
    """One viewing of one media item, possibly over several server sessions (renewals)."""

    def __init__(self, config: TrackerConfig, media: MediaConfig, *, resume: bool = False) -> None:
        """``resume``: this viewing continues one an earlier page load was tracking (a reload),
        so the first sessionStart says ``media.resume`` (spec §4.12)."""
        self._config = config
        self._media = media
        self._resume_next = resume
        self.state = Playback.IDLE  # written by _enter only
        self.session = 0  # how many sessionStarts so far; ApiEvent.session refers to it
        self.warnings: list[str] = []  # things dropped on purpose, for the integrator's log
        self._last_ts = -1
        self._duration: float | None = media.length
        self._paused = True
        self._playhead = 0.0
        self._playhead_ts = 0
        self._session_start_ts = 0
        self._idle_since: int | None = None
        self._held: list[Observation] = []
        self._overdue: list[ApiEvent] = []  # fell due before a call that then raised
        self._pings = PingClock(config.content_ping_interval, config.ad_ping_interval)
        self._seek = SeekSettling()
        self._stall = StallWatch()
        self._context = AdsAndChapter()
        self._states = PlayerStates(rules.MAX_STATES_PER_SESSION)
        self._meter = QoeMeter()
        self._stream = StreamClock()
        self._failure: str | None = None  # a player library's fatal error no session has reported yet

    # ------------------------------------------------------------------ queries

    @property
    def media(self) -> MediaConfig:
        """What is being watched (it changes with ``change_media``)."""
        return self._media

    @property
    def in_ad_break(self) -> bool:
        return self._context.ad_break is not None

    @property
    def chapter(self) -> ChapterInfo | None:
        return self._context.chapter

    @property
    def active_states(self) -> tuple[str, ...]:
        return tuple(self._states.active)

    @property
    def _ad(self) -> AdInfo | None:
        return self._context.ad

    @property
    def _qoe(self) -> Qoe:
        return self._meter.values

    @property
    def _playing_content(self) -> bool:
        return self.state is Playback.PLAYING and not self.in_ad_break

    @property
    def content_type(self) -> str:
        if self._media.content_type is not None:
            return self._media.content_type
        return "live" if self._duration is not None and math.isinf(self._duration) else "vod"

    @property
    def is_live(self) -> bool:
        return self.content_type.lower() in LIVE_CONTENT_TYPES

    @property
    def next_deadline(self) -> int | None:
        """When ``tick`` must be called next (UTC ms), or None when nothing is pending."""
        if self._overdue:
            return self._last_ts
        deadlines = [d for d in self._deadlines().values() if d is not None]
        return min(deadlines) if deadlines else None

    @property
    def element_states(self) -> frozenset[str]:
        """The standard states the element itself reports now (spec §4.7), not those an
        integrator started by hand."""
        return self._states.element

    @property
    def last_ts(self) -> int:
        """The ``ts`` of the last event this tracker emitted (-1 before the first): the next one
        is stamped after it."""
        return self._last_ts

    @property
    def stream_origin(self) -> int | None:
        """A live stream's clock, when the player gave it: the UTC ms of the element's position 0."""
        return self._stream.origin

    def playhead_at(self, now: int) -> float:
        """The content playhead the protocol wants at ``now`` (spec §4.2)."""
        if self._context.frozen_playhead is not None:
            return self._context.frozen_playhead  # frozen during ads
        return self._playhead_of(self._element_position(now), now)

    def _element_position(self, now: int) -> float:
        """Where the element is at ``now``, extrapolated from the last observation."""
        playhead = self._playhead
        if self.state in ADVANCING_STATES:
            playhead += max(0, now - self._playhead_ts) / 1000.0
        if self._duration is not None and math.isfinite(self._duration):
            playhead = min(playhead, self._duration)
        return max(0.0, playhead)

    def _playhead_of(self, position: float, at: int) -> float:
        """An element position played at ``at`` as the protocol's playhead: itself for VOD, the
        second of the day for live (``_stream``). Every playhead an event carries goes through
        here, never a raw position."""
        return self._stream.second_of_day(position, at) if self.is_live else position

    # ------------------------------------------------------------- player side

    @_in_time
    def observe(self, obs: Observation) -> list[ApiEvent]:
        """Feed one player observation; returns the API events it produces, in order: first
        what fell due before it happened (pings on their grid, a settled seek), then its own."""
        self._meter.observe(obs, playing_content=self._playing_content)
        out: list[ApiEvent] = []
        was_playing_content = self._playing_content
        out += self._observe(obs)
        if self._playing_content and not was_playing_content:
            self._stall.restart(obs.ts)  # the stall clock starts now
        if obs.states is not None and self.state in OPEN_STATES:
            ended, started = self._states.element_changes(obs.states)
            for name in ended:
                out += self._end_state(name, obs.ts)
            for name in started:
                out += self._start_state(name, obs.ts)
        return out

    def _observe(self, obs: Observation) -> list[ApiEvent]:
        """The step ``_state``'s rules choose for ``obs``, taken."""
        self._note_duration(obs.duration)
        self._paused = obs.paused or obs.event is PlayerEvent.PAUSE
        facts = self._facts(obs)
        rule = first_rule(ARRIVAL_RULES, obs.event, self.state, facts)
        before = self.playhead_at(obs.ts)  # where playback was, for DESTINATION_EVENTS
        if rule is None:
            self._note_playhead(obs.playhead, obs.ts)
            if self._stall.moved_at(obs.ts):
                facts |= {Fact.PLAYHEAD_MOVED}
            rule = first_rule(PLAYBACK_RULES, obs.event, self.state, facts)
            assert rule is not None  # the last rule matches everything
        return self._take(rule.step, obs, before)

    def _facts(self, obs: Observation) -> frozenset[Fact]:
        facts = {
            Fact.IN_AD_BREAK: self.in_ad_break,
            Fact.ENDED: obs.ended,
            Fact.ELEMENT_SEEKING: obs.seeking,
            Fact.LENGTH_UNKNOWN: self._length_unknown(),
            Fact.HOLDING: bool(self._held),
            Fact.STALL_INFERRED: self._stall.inferred,
            Fact.ELEMENT_PAUSED: obs.paused,
        }
        return frozenset(fact for fact, holds in facts.items() if holds)

    def _take(self, step: Step, obs: Observation, before: float) -> list[ApiEvent]:
        if step is Step.IGNORE:
            return []
        if step is Step.HOLD:
            return self._hold(obs)
        if step is Step.OPEN_SESSION:
            return self._open_session(obs)
        if step is Step.END_SESSION:
            return self._end_session(obs.ts)
        if step is Step.PAGE_CLOSED:
            self._leave_session(STEP_TRANSITIONS[step][1], obs.ts)
            return []
        if step is Step.COMPLETE:
            return self._complete(obs.ts)
        if step is Step.PLAYER_ERROR:
            return self._player_error(obs)
        if step is Step.WATCH_PROGRESS:
            self._stall.armed = True
            return []
        if step is Step.STALL_OVER:
            self._stall.armed = True
            self._enter(STEP_TRANSITIONS[step][1], obs.ts)
            return [self._play(obs.ts)]
        if step is Step.SEEK:
            if obs.event is PlayerEvent.SEEKING:
                self._seek.seeking()
            elif obs.event is PlayerEvent.SEEKED:
                self._seek.seeked(obs.ts, self._playhead)
            return []
        if step is Step.NOTE_FAILURE:
            self._note_failure(obs)
            if not self._held:
                return []
            first, self._held = self._held[0], []  # the play that asked; what followed is moot
            return self._observe(first)
        if step is Step.PLAYER_FAILED:
            self._note_failure(obs)
            return self._report_failure(obs.ts)
        if step is Step.PREROLL_FIRST_FRAME:
            self._meter.first_frame(obs.ts)
            self._enter(STEP_TRANSITIONS[step][1], obs.ts)
            return []
        return self._transition(obs, before)

    def _transition(self, obs: Observation, before: float) -> list[ApiEvent]:
        transition = PLAYER_TRANSITIONS.get((self.state, obs.event))
        if transition is None:
            return []
        api_event, next_state = transition
        out: list[ApiEvent] = []
        if next_state is Playback.SEEKING:
            self._seek.begin(self.state)
        if api_event is EventType.PLAY:
            self._meter.first_frame(obs.ts)
            out.append(self._play(obs.ts))
        elif api_event is not None:
            out.append(self._emit(api_event, obs.ts, playhead=before if obs.event in DESTINATION_EVENTS else None))
        self._enter(next_state, obs.ts)
        if obs.event in MOVE_ENDS_BUFFERING:
            self._stall.inferred = True
        return out

    def tick(self, now: int, playhead: float | None = None) -> list[ApiEvent]:
        """Send what fell due up to ``now``, each event at the moment it fell due: a settled
        seek, an inferred stall, idle expiry, renewal, a ping on its grid.

        ``playhead`` is the element's position at ``now`` if the caller can read it; without it
        the tracker extrapolates from the last observation. A late call sends one ping, at the
        last grid point it missed, never a burst of stale ones.
        """
        out = self._due(now - 1)
        if playhead is not None and self.state in OPEN_STATES and not self.in_ad_break \
                and self.state is not Playback.SEEKING:
            self._note_playhead(playhead, now)
        out += self._due(now)
        overdue, self._overdue = self._overdue, []
        return overdue + out

    def _due(self, now: int) -> list[ApiEvent]:
        """The time-driven events up to ``now``, earliest first, each stamped when it fell due."""
        out: list[ApiEvent] = []
        for _ in range(MAX_DUE_STEPS):
            if self.state not in OPEN_STATES:
                break
            due = sorted((d, DEADLINE_ORDER.index(kind), kind) for kind, d in self._deadlines().items()
                         if d is not None and d <= now)
            if not due:
                break
            at, _, kind = due[0]
            if kind is Deadline.PING:
                # One ping for a stretch the caller missed: the last grid point before anything
                # else fell due (a throttled tab wakes late; pings are not a backlog).
                limit = min([now] + [d for d, _, _ in due[1:]])
                out.append(self._emit(EventType.PING, self._pings.fire(limit, in_ad_break=self.in_ad_break)))
            elif kind is Deadline.SETTLE:
                out += self._settle_seek()
                self._stall.restart(at)
            elif kind is Deadline.STALL:
                api_event, state = DEADLINE_TRANSITIONS[kind]
                assert api_event is not None
                out.append(self._emit(api_event, at, playhead=self._playhead_of(self._playhead, at)))  # where it stuck
                self._enter(state, at)
                self._stall.inferred = True
            elif kind is Deadline.IDLE:
                api_event, state = DEADLINE_TRANSITIONS[kind]
                assert api_event is not None
                out.append(self._emit(api_event, at))
                self._leave_session(state, at)
            else:  # Deadline.RENEW
                api_event, _ = DEADLINE_TRANSITIONS[kind]
                assert api_event is not None
                out.append(self._emit(api_event, at))
                out += self._resume_session(at)
        return out

    def _deadlines(self) -> dict[Deadline, int | None]:
        """What falls due when, by kind (DEADLINE_ORDER breaks ties)."""
        if self.state not in OPEN_STATES:
            return {}
        idle = None
        if self.state in IDLE_STATES and self._idle_since is not None:
            idle = self._idle_since + int(self._config.idle_timeout * 1000)
        return {
            Deadline.SETTLE: self._seek.due,
            Deadline.STALL: self._stall.due(self._playing_content),
            Deadline.IDLE: idle,
            Deadline.RENEW: self._session_start_ts + int(self._config.max_session_duration * 1000),
            Deadline.PING: self._pings.due,
        }

    # ------------------------------------------------------------ integrator side

    @_in_time
    def start_ad_break(self, info: AdBreakInfo, now: int, playhead: float | None = None) -> list[ApiEvent]:
        self._allow("start_ad_break")
        if playhead is not None:
            self._note_playhead(playhead, now)
        content_playhead = self.playhead_at(now)
        # The break sits where the content stopped for it, which is also the playhead frozen for
        # its length (spec §3.5 podSecond, §4.2): after a seek past a scheduled offset that is
        # where the seek landed, not the schedule's offset.
        info = replace(info, pod_second=content_playhead)
        event = self._emit(EventType.AD_BREAK_START, now, ad_break=info, playhead=content_playhead)
        self._context.open_break(info, content_playhead)
        self._pings.schedule(self._last_ts, in_ad_break=True)
        return [event]

    @_in_time
    def start_ad(self, info: AdInfo, now: int) -> list[ApiEvent]:
        self._allow("start_ad")
        self._check(ApiEvent(EventType.AD_START, 0, 0, 0, ad=info, custom_metadata=info.custom_metadata))
        out = []
        if self._context.ad is not None:  # back-to-back ads: close the previous one first (spec §4.5)
            out.append(self._emit(EventType.AD_COMPLETE, now))
        out.append(self._emit(EventType.AD_START, now, ad=info, ad_break=self._context.ad_break,
                              custom_metadata=info.custom_metadata))
        self._context.ad = info
        return out

    @_in_time
    def complete_ad(self, now: int) -> list[ApiEvent]:
        self._allow("complete_ad")
        self._context.ad = None
        return [self._emit(EventType.AD_COMPLETE, now)]

    @_in_time
    def skip_ad(self, now: int) -> list[ApiEvent]:
        self._allow("skip_ad")
        self._context.ad = None
        return [self._emit(EventType.AD_SKIP, now)]

    @_in_time
    def complete_ad_break(self, now: int) -> list[ApiEvent]:
        self._allow("complete_ad_break")
        out = []
        if self._context.ad is not None:
            out.append(self._emit(EventType.AD_COMPLETE, now))
        out.append(self._emit(EventType.AD_BREAK_COMPLETE, now))
        frozen = self._context.close_break()
        if not self.is_live:  # a live element's position is not the second of the day it froze
            self._playhead = frozen
        self._playhead_ts = now
        self._stall.restart(now)
        if not self._meter.content_started and self.state is Playback.PLAYING:
            # After a pre-roll the content starts now (spec §4.5); after a mid-roll no play.
            out.append(self._play(now))
        self._pings.schedule(self._last_ts, in_ad_break=False)
        return out

    @_in_time
    def start_chapter(self, info: ChapterInfo, now: int, playhead: float | None = None) -> list[ApiEvent]:
        self._require_session("start_chapter")
        if self.in_ad_break:
            raise UsageError("start_chapter: a chapter cannot start inside an ad break (spec §4.6)")
        if playhead is not None:
            self._note_playhead(playhead, now)
        self._check(ApiEvent(EventType.CHAPTER_START, 0, 0, 0, chapter=info,
                             custom_metadata=info.custom_metadata))
        out = self._close_chapter(now) if self._context.chapter is not None else []
        out.append(self._emit(EventType.CHAPTER_START, now, chapter=info, custom_metadata=info.custom_metadata))
        self._context.chapter = info
        return out

    @_in_time
    def complete_chapter(self, now: int) -> list[ApiEvent]:
        self._require_chapter("complete_chapter")
        self._context.chapter = None
        return [self._emit(EventType.CHAPTER_COMPLETE, now)]

    @_in_time
    def skip_chapter(self, now: int) -> list[ApiEvent]:
        self._require_chapter("skip_chapter")
        self._context.chapter = None
        return [self._emit(EventType.CHAPTER_SKIP, now)]

    @_in_time
    def leave_chapter(self, now: int) -> list[ApiEvent]:
        """The playhead left the open chapter for no chapter: complete if it got to the end,
        otherwise a skip (the same rule as when another chapter starts)."""
        self._require_chapter("leave_chapter")
        return self._close_chapter(now)

    @_in_time
    def start_state(self, name: str, now: int) -> list[ApiEvent]:
        """A player state began (spec §4.7); see ``_start_state``."""
        return self._start_state(name, now)

    @_in_time
    def end_state(self, name: str, now: int) -> list[ApiEvent]:
        return self._end_state(name, now)

    def _start_state(self, name: str, now: int) -> list[ApiEvent]:
        """A player state began (spec §4.7). Repeats are ignored; past the limit of distinct states
        per session the extra ones are dropped with a warning, as the server would drop them."""
        self._require_session("start_state")
        self._check(ApiEvent(EventType.STATE_START, 0, 0, 0, state_name=name))
        verdict = self._states.may_start(name)
        if verdict is None:
            return []
        if not verdict:
            self.warnings.append(f"state {name!r} dropped: at most {rules.MAX_STATES_PER_SESSION} distinct states "
                                 "per session (spec §4.7)")
            return []
        self._states.started(name)
        return [self._emit(EventType.STATE_START, now, state_name=name)]

    def _end_state(self, name: str, now: int) -> list[ApiEvent]:
        self._require_session("end_state")
        if not self._states.ended(name):
            return []
        return [self._emit(EventType.STATE_END, now, state_name=name)]

    @_in_time
    def update_qoe(
        self,
        now: int,
        *,
        bitrate: int | None = None,
        frames_per_second: float | None = None,
        dropped_frames: int | None = None,
    ) -> list[ApiEvent]:
        """Record QoE values; a new bitrate during a session is a ``bitrateChange`` (spec §4.8)."""
        changed = self._meter.update(bitrate=bitrate, frames_per_second=frames_per_second,
                                     dropped_frames=dropped_frames)
        if changed and self.state in OPEN_STATES:
            return [self._emit(EventType.BITRATE_CHANGE, now, qoe=self._meter.values)]
        return []

    @_in_time
    def note_stream(self, now: int, *, live: bool = False, origin: int | None = None) -> list[ApiEvent]:
        """What an adaptive player knows of the stream: that it is live (its length unknown for
        good, whatever finite duration the element reports: a sliding window's) and its clock,
        ``origin``, the wall time (UTC ms) of the element's position 0 from the playlist's
        program date-times (``_stream``). A play held for the length goes on now if it can."""
        if live and self._media.length is None:
            self._duration, self._stream.live = math.inf, True
        if origin is not None:
            if not 0 <= origin < 2**53:
                raise UsageError(f"note_stream: origin must be UTC milliseconds, 0 <= origin < 2**53 (got {origin})")
            self._stream.origin = int(origin)
        if self._held and not self._length_unknown():
            held, self._held = self._held, []
            return [event for item in held for event in self.observe(item)]
        return []

    @_in_time
    def report_error(self, error_id: str, now: int, source: str = "external") -> list[ApiEvent]:
        """An error outside the player (ad server, DRM...). Does not end the session (§4.8)."""
        self._require_session("report_error")
        qoe = self._meter.error(error_id, source)
        self._check(ApiEvent(EventType.ERROR, 0, 0, 0, qoe=qoe))
        return [self._emit(EventType.ERROR, now, qoe=qoe)]

    @_in_time
    def end_session(self, now: int) -> list[ApiEvent]:
        """The viewer left (page closed, player destroyed): ``sessionEnd``; see ``_end_session``."""
        return self._end_session(now)

    def _end_session(self, now: int) -> list[ApiEvent]:
        """The viewer left (page closed, player destroyed): ``sessionEnd`` (spec §4.11).

        An open ad or chapter is not closed first: Adobe's timeline 2 ends mid-ad this way,
        and the server closes everything on sessionEnd.
        """
        self._held.clear()
        if self.state not in ENDABLE_STATES:
            return []
        api_event, state = STEP_TRANSITIONS[Step.END_SESSION]
        assert api_event is not None
        event = self._emit(api_event, now)
        self._leave_session(state, now)
        return [event]

    @_in_time
    def change_media(self, media: MediaConfig, now: int) -> list[ApiEvent]:
        """The element plays other content now: this session ends as an abandon (``sessionEnd``)
        and the next play opens a new session that describes ``media``, not a resume (spec
        §4.1: one session per playback of one item; §4.11)."""
        out = self._end_session(now)
        self._media = media
        self._duration = media.length
        self._resume_next = False
        self._enter(Playback.IDLE, now)
        self._playhead, self._playhead_ts = 0.0, now
        self._stall.armed = False
        self._meter.forget_media()
        self._stream.forget()
        self._failure = None
        return out

    @_in_time
    def reissue(self, events: list[ApiEvent], now: int) -> list[ApiEvent]:
        """Events of a lost session sent again on the current one, re-stamped now (spec §4.17)."""
        if self.state not in OPEN_STATES:
            return []
        return [self._emit(e.type, now, qoe=e.qoe) for e in events]

    def page_close_spec(self) -> PageClose | None:
        """What a page needs to end this session itself when it is closed (spec §4.13), or None
        when there is no session to end: the sessionEnd body (validated here, with ts and
        playhead left for the page) and the playhead to report if it is frozen (an ad). A live
        playhead is the page's to work out from the stream's clock (``stream_origin``)."""
        if self.state not in ENDABLE_STATES:
            return None
        end = ApiEvent(EventType.SESSION_END, self.playhead_at(self._last_ts), self._last_ts + 1, self.session)
        self._check(end)
        return PageClose(_wire.template(end), self._context.frozen_playhead)

    @_in_time
    def renew(self, now: int, playhead: float | None = None) -> list[ApiEvent]:
        """The server lost the session (404/410, spec §4.17): a resumed session carrying the
        context still active (chapter, states, ad) and, if playing, a play."""
        if self.state not in OPEN_STATES:
            return []
        if playhead is not None:
            self._note_playhead(playhead, now)
        return self._resume_session(now)

    # ----------------------------------------------------------------- internals

    def _enter(self, state: Playback, ts: int) -> None:
        """The one writer of ``state``: every transition the tables decide goes through here."""
        if state in IDLE_STATES and self.state not in IDLE_STATES:
            self._idle_since = ts
        if state is not Playback.BUFFERING:
            self._stall.inferred = False
        self.state = state

    def _leave_session(self, state: Playback, ts: int) -> None:
        """No session any more (completed, expired, closed): nothing falls due until the next."""
        self._enter(state, ts)
        self._pings.stop()
        self._seek.cancel()
        if state is not Playback.EXPIRED:  # an expired session is resumed with its states
            self._states.clear()
        if state is Playback.CLOSED:
            self._context.clear()

    def _allow(self, call: str) -> None:
        self._require_session(call)
        self._context.allow(call)

    def _require_session(self, call: str) -> None:
        if self.state not in OPEN_STATES:
            raise UsageError(f"{call}: no session is open (it opens on the first play; state {self.state.value})")

    def _require_chapter(self, call: str) -> None:
        self._require_session(call)
        if self._context.chapter is None:
            raise UsageError(f"{call}: no chapter is open")

    def _check(self, event: ApiEvent) -> None:
        problems = rules.validate_body(_wire.to_body(event))
        if problems:
            raise ValidationError([p.message for p in problems])

    def _emit(self, event_type: EventType, ts: int, *, playhead: float | None = None, **details: object) -> ApiEvent:
        moment = int(ts)
        ts = max(moment, self._last_ts + 1)  # spec §4.9: strictly increasing, >= 1 ms apart
        event = ApiEvent(
            event_type,
            self.playhead_at(moment) if playhead is None else playhead,  # the bump is not playback
            ts,
            self.session,
            **details,  # type: ignore[arg-type]
        )
        self._check(event)
        self._last_ts = ts
        return event

    def _note_duration(self, duration: float | None) -> None:
        if self._stream.live:
            return  # the player said live: a finite duration is its window's
        if self._media.length is None and duration is not None and duration > 0 and not math.isnan(duration):
            if duration != self._duration and self.state not in OPEN_STATES:
                self._failure = None  # a new source loaded: the page recovered the player
            self._duration = duration

    def _length_unknown(self) -> bool:
        # A player that failed will never say: the session that reports the failure opens without it.
        return self._duration is None and self._media.content_type is None and self._failure is None

    def _hold(self, obs: Observation) -> list[ApiEvent]:
        """Keep observations until the length is known (sessionStart needs media.length)."""
        if len(self._held) >= MAX_HELD_OBSERVATIONS:
            self.warnings.append("media length still unknown: oldest held player event dropped")
            self._held.pop(1)  # keep the play that opens the session
        self._held.append(obs)
        if self._length_unknown():
            return []
        held, self._held = self._held, []
        return [event for item in held for event in self.observe(item)]

    def _note_playhead(self, playhead: float, ts: int) -> None:
        if self._context.frozen_playhead is None and playhead is not None and math.isfinite(playhead):
            self._playhead = max(0.0, float(playhead))
            self._playhead_ts = ts
            self._stall.note(self._playhead, ts)

    def _open_session(self, obs: Observation) -> list[ApiEvent]:
        resume = self.state is Playback.EXPIRED or self._resume_next
        self._resume_next = False
        self._note_playhead(obs.playhead, obs.ts)
        self._meter.play_requested(obs.ts)
        out = self._start_session(obs.ts, resume=resume)
        states = self._states.take_active()
        if resume:  # the expired session's chapter and states are still true (spec §4.10)
            out += self._restate_context(obs.ts, states)
        if obs.event is PlayerEvent.PLAYING:  # autoplay reported only as playing
            out += self._observe(obs)
        if self._failure is not None and self.state in OPEN_STATES:
            out += self._report_failure(obs.ts)  # the player had given up before the play
        return out

    def _restate_context(self, ts: int, states: list[str]) -> list[ApiEvent]:
        """What a new session must be told again to continue this viewing: the open ad break
        and ad, the open chapter, the active states (spec §4.7, §4.10, §4.17)."""
        out: list[ApiEvent] = []
        context = self._context
        if context.ad_break is not None:
            out.append(self._emit(EventType.AD_BREAK_START, ts, ad_break=context.ad_break))
            if context.ad is not None:
                out.append(self._emit(EventType.AD_START, ts, ad=context.ad, ad_break=context.ad_break,
                                      custom_metadata=context.ad.custom_metadata))
        if context.chapter is not None:
            out.append(self._emit(EventType.CHAPTER_START, ts, chapter=context.chapter,
                                  custom_metadata=context.chapter.custom_metadata))
        for name in states:
            out += self._start_state(name, ts)
        return out

    def _start_session(self, ts: int, *, resume: bool) -> list[ApiEvent]:
        config, media = self._config, self._media
        length = LIVE_LENGTH if self._duration is None or math.isinf(self._duration) else self._duration
        if media.length is not None:
            length = media.length
        params = SessionParams(
            tracking_server=config.tracking_server,
            report_suite=config.report_suite,
            org_id=config.org_id,
            media_id=media.id,
            length=length,
            content_type=self.content_type,
            player_name=config.player_name,
            channel=config.channel,
            media_name=media.name,
            stream_type=media.stream_type,
            visitor_id=config.visitor_id,
            enable_ssl=config.enable_ssl,
            app_installation_id=config.app_installation_id,
            sdk_version=f"mediacollect-{__version__}",
            resume=resume,
            standard_metadata=media.standard_metadata,
        )
        self.session += 1
        self._meter.content_started = False
        api_event, state = STEP_TRANSITIONS[Step.OPEN_SESSION]
        assert api_event is not None
        self._enter(state, ts)
        event = self._emit(
            api_event, ts, session_params=params,
            custom_metadata=dict(media.custom_metadata) or None,
            qoe=self._meter.current(),  # QoE known before the play (e.g. initial bitrate), spec §3.8
        )
        self._session_start_ts = event.ts
        self._pings.start(event.ts, in_ad_break=self.in_ad_break)
        return [event]

    def _resume_session(self, now: int) -> list[ApiEvent]:
        """A new session continuing this viewing (media.resume), with its context re-sent."""
        playing = playing_at_renewal(self.state, self._paused)
        frozen = self._context.frozen_playhead
        # In a break, the content's frozen playhead; else the element's position (a live
        # playhead, a second of the day, is not one).
        position = frozen if frozen is not None else self._element_position(now)
        self._context.frozen_playhead = None
        self._playhead, self._playhead_ts = position, now
        out = self._start_session(now, resume=True)
        states = self._states.take_active()
        if self._context.ad_break is not None:
            self._context.frozen_playhead = frozen
        out += self._restate_context(now, states)
        api_event, state = RESUMED[playing]
        if playing:
            self._meter.content_started = self._context.ad_break is None
            out.append(self._emit(api_event, now, qoe=self._meter.current()))
            self._enter(state, now)
        else:
            self._enter(state, now)
            out.append(self._emit(api_event, now))
        return out

    def _play(self, ts: int, playhead: float | None = None) -> ApiEvent:
        qoe = self._meter.for_play(content=not self.in_ad_break)
        return self._emit(EventType.PLAY, ts, qoe=qoe, playhead=playhead)

    def _player_error(self, obs: Observation) -> list[ApiEvent]:
        code = obs.error_code if obs.error_code is not None else 0
        api_event, state = STEP_TRANSITIONS[Step.PLAYER_ERROR]
        assert api_event is not None
        event = self._emit(api_event, obs.ts, qoe=self._meter.error(f"MEDIA_ERR_{code}", "player"))
        if obs.error_message:
            self.warnings.append(f"player error {code}: {obs.error_message}")
        self._enter(state, obs.ts)
        return [event]

    def _note_failure(self, obs: Observation) -> None:
        self._failure = obs.error_id or "unknown"
        if obs.error_message:
            self.warnings.append(f"player failed ({self._failure}): {obs.error_message}")

    def _report_failure(self, ts: int) -> list[ApiEvent]:
        """A player library stopped on a fatal error: ``error`` with its code, then what
        ``STEP_TRANSITIONS[PLAYER_FAILED]`` says (spec §4.8)."""
        error_id, self._failure = self._failure or "unknown", None
        out = [self._emit(EventType.ERROR, ts, qoe=self._meter.error(error_id, "player"))]
        api_event, state = STEP_TRANSITIONS[Step.PLAYER_FAILED]
        assert api_event is not None
        out.append(self._emit(api_event, ts))
        self._leave_session(state, ts)
        return out

    def _complete(self, ts: int) -> list[ApiEvent]:
        out = []
        if self._context.chapter is not None:
            out.append(self._emit(EventType.CHAPTER_COMPLETE, ts))
            self._context.chapter = None
        api_event, state = STEP_TRANSITIONS[Step.COMPLETE]
        assert api_event is not None
        out.append(self._emit(api_event, ts))
        self._leave_session(state, ts)
        return out

    def _settle_seek(self) -> list[ApiEvent]:
        self._seek.cancel()
        ts = self._seek.landed_ts
        out: list[ApiEvent] = []
        if not self._context.chapter_holds(self._playhead):
            out.append(self._emit(EventType.CHAPTER_SKIP, ts))  # sought out of it (spec §4.4)
            self._context.chapter = None
        api_event, state = SEEK_SETTLED[(self._paused, self._seek.origin)]
        if api_event is None:  # a seek while paused (or paused during it) leaves the player paused
            self._enter(state, ts)
            self._idle_since = ts
            return out
        self._meter.first_frame(ts)
        self._enter(state, ts)
        out.append(self._play(ts, self._playhead_of(self._seek.landed_playhead, ts)))  # where it landed, when
        return out

    def _close_chapter(self, now: int) -> list[ApiEvent]:
        reached_end = self._context.chapter_reached_end(self.playhead_at(now))
        self._context.chapter = None
        return [self._emit(EventType.CHAPTER_COMPLETE if reached_end else EventType.CHAPTER_SKIP, now)]
