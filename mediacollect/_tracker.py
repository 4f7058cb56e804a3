"""The tracker: player observations and ``now`` in, API events and the next deadline out.

No I/O, no clock, no timers: the caller passes the time of every observation and calls
``tick(now)`` when ``next_deadline`` comes (h11's sans-I/O shape). Which event a player event
produces is looked up in ``_state.PLAYER_TRANSITIONS``; this module adds what a table cannot
hold: timestamps, playheads, pings, the seek settle window, ads, chapters, states, QoE and
session renewal. Every event it returns has passed ``_rules.validate_body``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Concatenate, ParamSpec

from . import _rules, _wire
from ._config import MediaConfig, TrackerConfig
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
from ._record import record
from ._state import (
    AD_CALLS_ALLOWED,
    ADVANCING_STATES,
    DESTINATION_EVENTS,
    IDLE_STATES,
    OPEN_STATES,
    PLAYER_TRANSITIONS,
    SEEK_SETTLE_MS,
    SESSION_OPENING,
    STALL_MS,
    Playback,
)
from ._version import __version__

LIVE_CONTENT_TYPES = frozenset({"live", "linear"})
LIVE_LENGTH = 86400.0  # spec §3.3: live of unknown length
DAY_MS = 86_400_000
MAX_HELD_OBSERVATIONS = 200  # observations kept while the media length is still unknown
FPS_WINDOW = 2.0  # seconds of playback a frame-rate measurement spans
# A chapter left within this many seconds of its end counts as completed, not skipped.
CHAPTER_END_TOLERANCE = 1.0
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


@record
class PageClose:
    """How the page ends the open session on its own (``Tracker.page_close_spec``)."""

    body: str  # the sessionEnd body, its ts and playhead as slots (_wire.template)
    frozen: float | None  # the playhead to report, when it is frozen (an ad)
    live: bool  # a live playhead is the second of the day at the moment of closing


class Tracker:
    """One viewing of one media item, possibly over several server sessions (renewals)."""

    def __init__(self, config: TrackerConfig, media: MediaConfig, *, resume: bool = False) -> None:
        """``resume``: this viewing continues one an earlier page load was tracking (a reload),
        so the first sessionStart says ``media.resume`` (spec §4.12)."""
        self._config = config
        self._media = media
        self._resume_next = resume
        self.state = Playback.IDLE
        self.session = 0  # how many sessionStarts so far; ApiEvent.session refers to it
        self.warnings: list[str] = []  # things dropped on purpose, for the integrator's log
        self._last_ts = -1
        self._duration: float | None = media.length
        self._paused = True
        self._playhead = 0.0
        self._playhead_ts = 0
        self._session_start_ts = 0
        self._ping_anchor = 0
        self._next_ping: int | None = None
        self._idle_since: int | None = None
        self._seek_settle_at: int | None = None
        self._seek_end_ts = 0
        self._seek_end_playhead = 0.0
        self._seek_from = Playback.PLAYING
        self._ad_break: AdBreakInfo | None = None
        self._ad: AdInfo | None = None
        self._frozen_playhead: float | None = None
        self._chapter: ChapterInfo | None = None
        self._states_active: list[str] = []
        self._states_seen: set[str] = set()
        self._element_states: set[str] = set()  # the part of _states_active the element reports
        self._content_started = False
        self._play_request_ts: int | None = None
        self._time_to_start: int | None = None
        self._qoe = Qoe()
        self._held: list[Observation] = []
        self._overdue: list[ApiEvent] = []  # fell due before a call that then raised
        # The playhead-stall heuristic: armed by the first timeupdate (an observer that sends
        # none, or an integrator feeding events by hand, never gets inferred buffering).
        self._progress_watch = False
        self._progress_playhead = -1.0
        self._progress_ts = 0
        self._stall_inferred = False
        self._frames_mark: tuple[int, float] | None = None  # (frames decoded, playhead) when measuring began
        # A live stream's clock: the wall time (UTC ms) of the element's position 0, when the
        # player knows it (program date-times); live playheads are then the stream position.
        self._stream_origin: int | None = None
        self._failure: str | None = None  # a fatal player error not reported yet (no session)
        self._player_live = False  # the player says the stream is live: its length stays unknown

    # ------------------------------------------------------------------ queries

    @property
    def media(self) -> MediaConfig:
        """What is being watched (it changes with ``change_media``)."""
        return self._media

    @property
    def in_ad_break(self) -> bool:
        return self._ad_break is not None

    @property
    def chapter(self) -> ChapterInfo | None:
        return self._chapter

    @property
    def active_states(self) -> tuple[str, ...]:
        return tuple(self._states_active)

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

    def _stall_deadline(self) -> int | None:
        """When playing content whose playhead has not moved becomes buffering (STALL_MS)."""
        if not self._progress_watch or self.state is not Playback.PLAYING or self.in_ad_break:
            return None
        return self._progress_ts + STALL_MS

    def playhead_at(self, now: int) -> float:
        """The content playhead the protocol wants at ``now`` (spec §4.2)."""
        if self._frozen_playhead is not None:
            return self._frozen_playhead  # frozen during ads
        playhead = self._playhead
        if self.state in ADVANCING_STATES:
            playhead += max(0, now - self._playhead_ts) / 1000.0
        if self._duration is not None and math.isfinite(self._duration):
            playhead = min(playhead, self._duration)
        return self._position(max(0.0, playhead), now)

    def _position(self, element_playhead: float, at: int) -> float:
        """An element position as the protocol's playhead at ``at``: the position itself for VOD;
        for live, the second of the day (UTC) of the stream at that position when the player
        knows the stream's clock, else the second of the day at ``at`` (spec §4.2). Every
        playhead an event carries goes through here (or ``playhead_at``), never a raw position."""
        if not self.is_live:
            return element_playhead
        if self._stream_origin is None:
            return (at % DAY_MS) / 1000.0
        return ((self._stream_origin + round(element_playhead * 1000)) % DAY_MS) / 1000.0

    # ------------------------------------------------------------- player side

    @_in_time
    def observe(self, obs: Observation) -> list[ApiEvent]:
        """Feed one player observation; returns the API events it produces, in order: first
        what fell due before it happened (pings on their grid, a settled seek), then its own."""
        if obs.dropped_frames is not None:
            self._qoe = replace(self._qoe, dropped_frames=obs.dropped_frames)
        if obs.total_frames is not None:
            self._measure_frame_rate(obs)
        out: list[ApiEvent] = []
        was_playing_content = self._playing_content
        out += self._observe(obs)
        if self._playing_content and not was_playing_content:
            self._progress_ts = max(self._progress_ts, obs.ts)  # the stall clock starts now
        if obs.states is not None and self.state in OPEN_STATES:
            out += self._sync_element_states(obs.states, obs.ts)
        return out

    def _measure_frame_rate(self, obs: Observation) -> None:
        """Frames decoded per second of content played, over at least FPS_WINDOW seconds of
        uninterrupted playback (a seek, an ad or a pause starts a new measurement)."""
        assert obs.total_frames is not None
        mark = self._frames_mark
        if not self._playing_content or obs.event is not PlayerEvent.TIMEUPDATE:
            self._frames_mark = None
            return
        if mark is None or obs.total_frames < mark[0] or not 0 <= obs.playhead - mark[1] <= FPS_WINDOW * 4:
            self._frames_mark = (obs.total_frames, obs.playhead)
            return
        frames, played = obs.total_frames - mark[0], obs.playhead - mark[1]
        if played >= FPS_WINDOW:
            if frames > 0:
                self._qoe = replace(self._qoe, frames_per_second=max(1, min(240, round(frames / played))))
            self._frames_mark = (obs.total_frames, obs.playhead)

    def _sync_element_states(self, states: frozenset[str], ts: int) -> list[ApiEvent]:
        """Start/end the standard states the element reports (spec §4.7); states the integrator
        started by hand are left alone."""
        out: list[ApiEvent] = []
        for name in sorted(self._element_states - states):
            out += self._end_state(name, ts)
        for name in sorted(states - self._element_states):
            out += self._start_state(name, ts)
        self._element_states = set(states)
        return out

    def _observe(self, obs: Observation) -> list[ApiEvent]:
        self._note_duration(obs.duration)
        if obs.event is PlayerEvent.FAILED:
            return self._fail(obs)
        if self._held:
            return self._hold(obs)
        self._paused = obs.paused or obs.event is PlayerEvent.PAUSE
        event = obs.event
        if event is PlayerEvent.DURATION:
            return []
        if event is PlayerEvent.TEARDOWN:
            return self._end_session(obs.ts)
        if event is PlayerEvent.PAGE_CLOSED:
            # The page sent sessionEnd on its way out (page_close_spec); if it comes back (from
            # the back/forward cache) the next play resumes the viewing in a new session.
            if self.state in OPEN_STATES or self.state is Playback.COMPLETE:
                self._leave_session(Playback.EXPIRED)
            return []
        if self.state in (Playback.IDLE, Playback.COMPLETE, Playback.CLOSED, Playback.EXPIRED):
            if event not in SESSION_OPENING:
                return []
            if self._length_unknown():
                return self._hold(obs)
            opened = self._open_session(obs)
            if self._failure is not None and self.state in OPEN_STATES:
                opened += self._report_failure(obs.ts)  # the player had already given up
            return opened
        before = self.playhead_at(obs.ts)  # where playback was, for DESTINATION_EVENTS
        self._note_playhead(obs.playhead, obs.ts)
        if event is PlayerEvent.WAITING and obs.seeking:
            return []  # the element loads what a seek asked for: part of the seek, not buffering (§4.4)
        if obs.ended and event is PlayerEvent.SEEKED and not self.in_ad_break:
            return self._complete(obs.ts)  # sought to the very end: no "ended" fires while paused
        if event is PlayerEvent.TIMEUPDATE:
            self._progress_watch = True
            if self._stall_inferred and self.state is Playback.BUFFERING and self._progress_ts == obs.ts:
                self._enter(Playback.PLAYING, obs.ts)  # the playhead moves again: the stall is over
                return [self._play(obs.ts)]
            return []
        if event is PlayerEvent.ERROR:
            return self._player_error(obs)
        if event is PlayerEvent.ENDED:
            return [] if self.in_ad_break else self._complete(obs.ts)
        if event is PlayerEvent.PAUSE and obs.ended and not self.in_ad_break:
            return []  # the pause a browser fires as the content ends: sessionComplete says it all
        if self.in_ad_break and event in (PlayerEvent.SEEKING, PlayerEvent.SEEKED):
            return []  # the ad's own element position is not content (spec §4.5)
        if self.state is Playback.SEEKING:
            return self._seeking(obs)
        if event is PlayerEvent.STALL_END and obs.paused:
            return []  # the player's buffer refilled while the viewer had paused: nothing resumes
        if self.in_ad_break and self.state is Playback.STARTING and event is PlayerEvent.PLAYING:
            # The pre-roll's first frame: no content "play" before the break ends (spec §4.5).
            self._first_frame(obs.ts)
            self.state = Playback.PLAYING
            return []
        transition = PLAYER_TRANSITIONS.get((self.state, event))
        if transition is None:
            return []
        api_event, next_state = transition
        out: list[ApiEvent] = []
        if next_state is Playback.SEEKING:
            self._seek_from = self.state
            self._seek_settle_at = None
        if api_event is EventType.PLAY:
            self._first_frame(obs.ts)
            out.append(self._play(obs.ts))
        elif api_event is not None:
            out.append(self._emit(api_event, obs.ts, playhead=before if event in DESTINATION_EVENTS else None))
        self._enter(next_state, obs.ts)
        if event is PlayerEvent.STALL:
            self._stall_inferred = True  # it ends when the playhead moves, "playing" or not
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
            due = sorted((d, order, kind) for order, (kind, d) in enumerate(self._deadlines().items())
                         if d is not None and d <= now)
            if not due:
                break
            at, _, kind = due[0]
            if kind == "ping":
                # One ping for a stretch the caller missed: the last grid point before anything
                # else fell due (a throttled tab wakes late; pings are not a backlog).
                limit = min([now] + [d for d, _, _ in due[1:]])
                step = self._ping_step()
                at += (limit - at) // step * step
                out.append(self._emit(EventType.PING, at))
                self._schedule_ping(at)
            elif kind == "settle":
                out += self._settle_seek()
                self._progress_ts = max(self._progress_ts, at)
            elif kind == "stall":
                # Playing, yet no progress for STALL_MS: the element is starved without saying
                # "waiting" (browsers often do not). Buffering until the playhead moves again.
                out.append(self._emit(EventType.BUFFER_START, at,  # where it stuck
                                      playhead=self._position(self._playhead, at)))
                self._enter(Playback.BUFFERING, at)
                self._stall_inferred = True
            elif kind == "idle":
                # Spec §4.10: the server closes a session whose playhead stood still for 30 min;
                # we close it ourselves and resume on the next play (§4.12).
                out.append(self._emit(EventType.SESSION_END, at))
                self._leave_session(Playback.EXPIRED)
            else:  # "renew": spec §4.10, a session must not outlive 24 h
                out.append(self._emit(EventType.SESSION_END, at))
                out += self._resume_session(at)
        return out

    def _deadlines(self) -> dict[str, int | None]:
        """What falls due when, by kind; at the same moment the first listed goes first (a
        session that expires or is renewed needs no ping)."""
        if self.state not in OPEN_STATES:
            return {}
        idle = None
        if self.state in IDLE_STATES and self._idle_since is not None:
            idle = self._idle_since + int(self._config.idle_timeout * 1000)
        return {
            "settle": self._seek_settle_at,
            "stall": self._stall_deadline(),
            "idle": idle,
            "renew": self._session_start_ts + int(self._config.max_session_duration * 1000),
            "ping": self._next_ping,
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
        self._ad_break = info
        self._frozen_playhead = content_playhead
        self._schedule_ping(self._last_ts)
        return [event]

    @_in_time
    def start_ad(self, info: AdInfo, now: int) -> list[ApiEvent]:
        self._allow("start_ad")
        self._check(ApiEvent(EventType.AD_START, 0, 0, 0, ad=info, custom_metadata=info.custom_metadata))
        out = []
        if self._ad is not None:  # back-to-back ads: close the previous one first (spec §4.5)
            out.append(self._emit(EventType.AD_COMPLETE, now))
        out.append(self._emit(EventType.AD_START, now, ad=info, ad_break=self._ad_break,
                              custom_metadata=info.custom_metadata))
        self._ad = info
        return out

    @_in_time
    def complete_ad(self, now: int) -> list[ApiEvent]:
        self._allow("complete_ad")
        self._ad = None
        return [self._emit(EventType.AD_COMPLETE, now)]

    @_in_time
    def skip_ad(self, now: int) -> list[ApiEvent]:
        self._allow("skip_ad")
        self._ad = None
        return [self._emit(EventType.AD_SKIP, now)]

    @_in_time
    def complete_ad_break(self, now: int) -> list[ApiEvent]:
        self._allow("complete_ad_break")
        out = []
        if self._ad is not None:
            out.append(self._emit(EventType.AD_COMPLETE, now))
            self._ad = None
        out.append(self._emit(EventType.AD_BREAK_COMPLETE, now))
        assert self._frozen_playhead is not None
        self._playhead, self._playhead_ts = self._frozen_playhead, now
        self._frozen_playhead = None
        self._ad_break = None
        self._progress_ts = max(self._progress_ts, now)
        if not self._content_started and self.state is Playback.PLAYING:
            # After a pre-roll the content starts now (spec §4.5); after a mid-roll no play.
            out.append(self._play(now))
        self._schedule_ping(self._last_ts)
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
        out = self._close_chapter(now) if self._chapter is not None else []
        out.append(self._emit(EventType.CHAPTER_START, now, chapter=info, custom_metadata=info.custom_metadata))
        self._chapter = info
        return out

    @_in_time
    def complete_chapter(self, now: int) -> list[ApiEvent]:
        self._require_chapter("complete_chapter")
        self._chapter = None
        return [self._emit(EventType.CHAPTER_COMPLETE, now)]

    @_in_time
    def skip_chapter(self, now: int) -> list[ApiEvent]:
        self._require_chapter("skip_chapter")
        self._chapter = None
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
        """A player state began (spec §4.7). Repeats are ignored; past 10 distinct states per
        session the extra ones are dropped with a warning, as the server would drop them."""
        self._require_session("start_state")
        self._check(ApiEvent(EventType.STATE_START, 0, 0, 0, state_name=name))
        if name in self._states_active:
            return []
        if name not in self._states_seen and len(self._states_seen) >= _rules.MAX_STATES_PER_SESSION:
            self.warnings.append(f"state {name!r} dropped: at most 10 distinct states per session (spec §4.7)")
            return []
        self._states_seen.add(name)
        self._states_active.append(name)
        return [self._emit(EventType.STATE_START, now, state_name=name)]

    def _end_state(self, name: str, now: int) -> list[ApiEvent]:
        self._require_session("end_state")
        if name not in self._states_active:
            return []
        self._states_active.remove(name)
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
        changed = bitrate is not None and bitrate != self._qoe.bitrate
        self._qoe = replace(
            self._qoe,
            bitrate=self._qoe.bitrate if bitrate is None else int(bitrate),
            frames_per_second=(
                self._qoe.frames_per_second if frames_per_second is None else round(frames_per_second)
            ),
            dropped_frames=self._qoe.dropped_frames if dropped_frames is None else int(dropped_frames),
        )
        if changed and self.state in OPEN_STATES:
            return [self._emit(EventType.BITRATE_CHANGE, now, qoe=self._qoe)]
        return []

    @_in_time
    def note_stream(self, now: int, *, live: bool = False, origin: int | None = None) -> list[ApiEvent]:
        """What an adaptive player knows of the stream: that it is live (its length unknown for
        good, whatever the element says yet) and its clock, ``origin``: the wall time (UTC ms)
        of the element's position 0, from the playlist's program date-times. Live playheads are
        then the second of the day of the stream position being played (spec §4.2)."""
        if live and self._media.length is None:
            # For good: the element's duration of a live stream may be the window's, finite.
            self._duration, self._player_live = math.inf, True
        if origin is not None:
            self._stream_origin = int(origin)
        if self._held and not self._length_unknown():  # a play was waiting for the length
            held, self._held = self._held, []
            return [event for item in held for event in self.observe(item)]
        return []

    @_in_time
    def report_error(self, error_id: str, now: int, source: str = "external") -> list[ApiEvent]:
        """An error outside the player (ad server, DRM...). Does not end the session (§4.8)."""
        self._require_session("report_error")
        qoe = replace(self._qoe, error_id=error_id, error_source=source)
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
        if self.state not in OPEN_STATES and self.state is not Playback.COMPLETE:
            return []
        event = self._emit(EventType.SESSION_END, now)
        self._leave_session(Playback.CLOSED)
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
        self.state = Playback.IDLE
        self._playhead, self._playhead_ts = 0.0, now
        self._progress_watch, self._frames_mark = False, None
        self._stream_origin = self._failure = None
        self._player_live = False
        self._qoe = Qoe()
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
        playhead left for the page), the playhead to report if it is frozen (an ad), and
        whether it is live (second of the day)."""
        if self.state not in OPEN_STATES and self.state is not Playback.COMPLETE:
            return None
        end = ApiEvent(EventType.SESSION_END, self.playhead_at(self._last_ts), self._last_ts + 1, self.session)
        self._check(end)
        return PageClose(_wire.template(end), self._frozen_playhead, self.is_live)

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

    def _allow(self, call: str) -> None:
        self._require_session(call)
        position = "ad" if self._ad is not None else "break" if self._ad_break is not None else "content"
        if call not in AD_CALLS_ALLOWED[position]:
            where = {"content": "outside an ad break", "break": "in an ad break with no ad open",
                     "ad": "while an ad is open"}[position]
            raise UsageError(f"{call}: not allowed {where} (spec §4.5 nesting)")

    def _require_session(self, call: str) -> None:
        if self.state not in OPEN_STATES:
            raise UsageError(f"{call}: no session is open (it opens on the first play; state {self.state.value})")

    def _require_chapter(self, call: str) -> None:
        self._require_session(call)
        if self._chapter is None:
            raise UsageError(f"{call}: no chapter is open")

    def _check(self, event: ApiEvent) -> None:
        problems = _rules.validate_body(_wire.to_body(event))
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
        if self._player_live:
            return
        if self._media.length is None and duration is not None and duration > 0 and not math.isnan(duration):
            if duration != self._duration and self.state not in OPEN_STATES:
                self._failure = None  # a new source: the page recovered the player
            self._duration = duration

    def _length_unknown(self) -> bool:
        # A player that failed will never say: the session that reports it opens without it.
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
        if self._frozen_playhead is None and playhead is not None and math.isfinite(playhead):
            self._playhead = max(0.0, float(playhead))
            self._playhead_ts = ts
            if self._playhead != self._progress_playhead:
                self._progress_playhead, self._progress_ts = self._playhead, ts

    def _open_session(self, obs: Observation) -> list[ApiEvent]:
        resume = self.state is Playback.EXPIRED or self._resume_next
        self._resume_next = False
        self._note_playhead(obs.playhead, obs.ts)
        self._play_request_ts = obs.ts
        self._time_to_start = None
        states = list(self._states_active)
        self._states_active.clear()
        out = self._start_session(obs.ts, resume=resume)
        if resume:  # the expired session's chapter and states are still true (spec §4.10)
            out += self._restate_context(obs.ts, states)
        if obs.event is PlayerEvent.PLAYING:  # autoplay reported only as playing
            out += self._observe(obs)
        return out

    def _restate_context(self, ts: int, states: list[str]) -> list[ApiEvent]:
        """What a new session must be told again to continue this viewing: the open ad break
        and ad, the open chapter, the active states (spec §4.7, §4.10, §4.17)."""
        out: list[ApiEvent] = []
        if self._ad_break is not None:
            out.append(self._emit(EventType.AD_BREAK_START, ts, ad_break=self._ad_break))
            if self._ad is not None:
                out.append(self._emit(EventType.AD_START, ts, ad=self._ad, ad_break=self._ad_break,
                                      custom_metadata=self._ad.custom_metadata))
        if self._chapter is not None:
            out.append(self._emit(EventType.CHAPTER_START, ts, chapter=self._chapter,
                                  custom_metadata=self._chapter.custom_metadata))
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
        self._states_seen = set()
        self._content_started = False
        self.state = Playback.STARTING
        event = self._emit(
            EventType.SESSION_START, ts, session_params=params,
            custom_metadata=dict(media.custom_metadata) or None,
            qoe=self._qoe_snapshot(),  # QoE known before the play (e.g. initial bitrate), spec §3.8
        )
        self._session_start_ts = self._ping_anchor = event.ts
        self._schedule_ping(event.ts)
        return [event]

    def _resume_session(self, now: int) -> list[ApiEvent]:
        """A new session continuing this viewing (media.resume), with its context re-sent."""
        playing = self.state is Playback.PLAYING or (self.state is Playback.SEEKING and not self._paused)
        frozen = self._frozen_playhead
        playhead_now = self.playhead_at(now)
        self._frozen_playhead = None
        self._playhead, self._playhead_ts = playhead_now, now
        states = list(self._states_active)
        self._states_active.clear()
        out = self._start_session(now, resume=True)
        if self._ad_break is not None:
            self._frozen_playhead = frozen
        out += self._restate_context(now, states)
        if playing:
            self._content_started = self._ad_break is None
            out.append(self._emit(EventType.PLAY, now, qoe=self._qoe_snapshot()))
            self._enter(Playback.PLAYING, now)
        else:
            self._enter(Playback.PAUSED, now)
            out.append(self._emit(EventType.PAUSE_START, now))
        return out

    def _leave_session(self, state: Playback) -> None:
        self.state = state
        self._next_ping = None
        self._seek_settle_at = None
        if state is not Playback.EXPIRED:  # an expired session is resumed with its states
            self._states_active.clear()
            self._element_states.clear()
        if state is Playback.CLOSED:
            self._ad_break = self._ad = self._chapter = None
            self._frozen_playhead = None

    def _enter(self, state: Playback, ts: int) -> None:
        if state in IDLE_STATES and self.state not in IDLE_STATES:
            self._idle_since = ts
        if state is not Playback.BUFFERING:
            self._stall_inferred = False
        self.state = state

    def _ping_step(self) -> int:
        interval = self._config.ad_ping_interval if self.in_ad_break else self._config.content_ping_interval
        return int(interval * 1000)

    def _schedule_ping(self, now: int) -> None:
        """Next ping on the grid anchored at session start (spec §4.3 timeline convention)."""
        step = self._ping_step()
        periods = (now - self._ping_anchor) // step + 1
        self._next_ping = self._ping_anchor + periods * step

    def _first_frame(self, ts: int) -> None:
        if self._time_to_start is None and self._play_request_ts is not None:
            self._time_to_start = max(0, ts - self._play_request_ts)

    def _qoe_snapshot(self) -> Qoe:
        return replace(self._qoe, error_id=None, error_source=None)

    def _play(self, ts: int, playhead: float | None = None) -> ApiEvent:
        qoe = self._qoe_snapshot()
        if not self._content_started and not self.in_ad_break:
            self._content_started = True
            qoe = replace(qoe, time_to_start=self._time_to_start)
        return self._emit(EventType.PLAY, ts, qoe=qoe, playhead=playhead)

    def _fail(self, obs: Observation) -> list[ApiEvent]:
        """The player library stopped on a fatal error (spec §4.8: ``error``, then ``sessionEnd``).
        With no session open it is reported when the viewer's play opens one, at once if a play
        is already waiting for the length (which will not come now)."""
        self._failure = obs.error_id or "unknown"
        if obs.error_message:
            self.warnings.append(f"player failed ({self._failure}): {obs.error_message}")
        if self.state in OPEN_STATES:
            return self._report_failure(obs.ts)
        if self._held:
            first, self._held = self._held[0], []  # the play that asked; what followed is moot
            return self._observe(first)
        return []

    def _report_failure(self, ts: int) -> list[ApiEvent]:
        """``error`` with the library's code, then ``sessionEnd``: nothing is left open on the
        server. The next play (the page recovered the player) resumes the viewing."""
        error_id, self._failure = self._failure, None
        qoe = replace(self._qoe_snapshot(), error_id=error_id, error_source="player")
        out = [self._emit(EventType.ERROR, ts, qoe=qoe), self._emit(EventType.SESSION_END, ts)]
        self._leave_session(Playback.EXPIRED)
        return out

    def _player_error(self, obs: Observation) -> list[ApiEvent]:
        code = obs.error_code if obs.error_code is not None else 0
        qoe = replace(self._qoe_snapshot(), error_id=f"MEDIA_ERR_{code}", error_source="player")
        event = self._emit(EventType.ERROR, obs.ts, qoe=qoe)
        if obs.error_message:
            self.warnings.append(f"player error {code}: {obs.error_message}")
        self._enter(Playback.ERRORED, obs.ts)
        return [event]

    def _complete(self, ts: int) -> list[ApiEvent]:
        out = []
        if self._chapter is not None:
            out.append(self._emit(EventType.CHAPTER_COMPLETE, ts))
            self._chapter = None
        out.append(self._emit(EventType.SESSION_COMPLETE, ts))
        self._leave_session(Playback.COMPLETE)
        return out

    def _seeking(self, obs: Observation) -> list[ApiEvent]:
        if obs.event is PlayerEvent.SEEKING:
            self._seek_settle_at = None  # still scrubbing
        elif obs.event is PlayerEvent.SEEKED:
            self._seek_end_ts, self._seek_end_playhead = obs.ts, self._playhead
            self._seek_settle_at = obs.ts + SEEK_SETTLE_MS
        return []

    def _settle_seek(self) -> list[ApiEvent]:
        self._seek_settle_at = None
        ts = self._seek_end_ts
        out: list[ApiEvent] = []
        chapter = self._chapter
        if chapter is not None and not (chapter.offset <= self._playhead < chapter.offset + chapter.length):
            out.append(self._emit(EventType.CHAPTER_SKIP, ts))  # sought out of it (spec §4.4)
            self._chapter = None
        if self._paused:  # a seek while paused (or paused during it) leaves the player paused
            self.state = Playback.STARTING if self._seek_from is Playback.STARTING else Playback.PAUSED
            self._idle_since = ts
            return out
        self._first_frame(ts)
        self.state = Playback.PLAYING
        out.append(self._play(ts, self._position(self._seek_end_playhead, ts)))  # where the seek landed, when
        return out

    def _close_chapter(self, now: int) -> list[ApiEvent]:
        chapter = self._chapter
        assert chapter is not None
        self._chapter = None
        reached_end = self.playhead_at(now) >= chapter.offset + chapter.length - CHAPTER_END_TOLERANCE
        return [self._emit(EventType.CHAPTER_COMPLETE if reached_end else EventType.CHAPTER_SKIP, now)]

