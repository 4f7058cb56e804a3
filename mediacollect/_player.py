"""One tracked media element: shim records in, tracker calls and element commands out.

Plain Python between the shim's JSON records and the driver, so the whole choreography of a
page player (ads played in the content's own element, chapters from its WebVTT track) runs
in CPython tests with made-up records. ``mediacollect.browser`` only carries the commands out
on the element.

While an ad plays, the element's own events describe the ad, not the content: only what the
protocol wants from an ad (its first frame, pauses, buffering, player states, the end) reaches
the tracker, and never the ad's length or position. The element's events caused by swapping
the source (a pause, seeks, a new duration) are not the viewer's and are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import Any

from . import _inputs
from ._ads import AdBreakPlan
from ._chapters import Chapters
from ._config import MediaConfig
from ._driver import Driver
from ._events import Observation, PlayerEvent
from ._lazy import lazy_dataclass
from ._state import OPEN_STATES, Playback
from .rules import is_number

# While an ad plays: the element events forwarded to the tracker (as ad playback).
_AD_FORWARDED = frozenset({PlayerEvent.PLAYING, PlayerEvent.PAUSE, PlayerEvent.WAITING, PlayerEvent.STATE,
                           PlayerEvent.TEARDOWN, PlayerEvent.PAGE_CLOSED})
# While a source is loading (an ad, or the content coming back): only these.
_LOADING_FORWARDED = frozenset({PlayerEvent.STATE, PlayerEvent.TEARDOWN, PlayerEvent.PAGE_CLOSED})
# Content events after which the chapter the playhead is in is checked.
_CHAPTER_CHECKS = frozenset({PlayerEvent.TIMEUPDATE, PlayerEvent.PLAYING, PlayerEvent.PAUSE})
# The content is back when it plays from (about) where the break took it: a first frame from
# before that (the new source starting at 0 for a moment) is not the content resuming.
RESUME_TOLERANCE = 0.5
# A seek in an ad this far past where it had played to skips part of it (timeupdates come every
# 250 ms, so a smaller step forward is not the viewer's).
AD_SEEK_TOLERANCE = 0.5


class Mode(StrEnum):
    CONTENT = "content"
    AD_LOADING = "ad-loading"  # an ad's source was set; its first frame opens it (adStart)
    AD = "ad"
    RESUMING = "resuming"  # the break is over; the content's source is coming back


class Action(StrEnum):
    LOAD = "load"  # set ``src``, start at ``at`` seconds, then play
    SHOW_SKIP = "show-skip"  # the ad's skip button
    HIDE_SKIP = "hide-skip"
    NEW_MEDIA = "new-media"  # the element plays other content (``src``), to be described again


@lazy_dataclass
class Command:
    """What the element must do (``Action``); ``Player.change_media`` takes up ``new-media``."""

    action: Action
    src: str | None = None
    at: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", Action(self.action))  # "load" is taken as Action.LOAD


class Player:
    """The element's tracking: one driver (one viewing), its ad schedule and its chapters."""

    def __init__(self, driver: Driver, *, player_name: str, content_src: str | None = None,
                 ads: Sequence[AdBreakPlan] = (), base_url: str | None = None) -> None:
        """``base_url``: the page's, to resolve sources the way the element will (``currentSrc``
        is absolute); without it events are not told apart by source."""
        self.driver = driver
        self.tracker = driver.tracker
        self.content_src = content_src
        self.mode = Mode.CONTENT
        self.chapters = Chapters(())
        self._player_name = player_name
        self._plans = list(ads)
        self._next_plan = 0
        self._plan: AdBreakPlan | None = None
        self._ad_index = 0
        self._resume_at = 0.0
        self._skip_shown = False
        self.load_pending = False  # a "load" command not carried out yet (see loaded())
        self.viewer_paused = False  # the viewer paused before the break's source was swapped in
        self._ad_time = 0.0  # how far into the ad playback got
        self._ad_sought_ahead = False  # the viewer moved the ad forward: its end is not a completion
        self._base_url = base_url
        self._source: str | None = None  # the source a break loaded (absolute URL)
        # The content's own source as the element reports it (absolute; the first one seen in
        # content mode): another one in content mode is new media (Command "new-media").
        self._content_url: str | None = None

    @property
    def pending_breaks(self) -> int:
        return len(self._plans) - self._next_plan

    def content_playhead(self, element_time: float) -> float | None:
        """The element's time as a content playhead, or None while it plays (or loads) something
        else: a ping must not report an ad's position as the content's."""
        return element_time if self.mode is Mode.CONTENT else None

    def handle(self, raw: Mapping[str, Any]) -> list[Command]:
        """One shim record for this element."""
        kind = raw.get("type")
        if kind == "chapters":
            cues = raw.get("cues")
            self.chapters = Chapters.from_cues(c for c in cues if isinstance(c, Mapping)) if isinstance(
                cues, list) else Chapters(())
            return []
        if kind == "bitrate":
            bitrate, ts = raw.get("bitrate"), raw.get("ts")
            if type(bitrate) is int and bitrate >= 0 and is_number(ts):
                self.driver.call(self.tracker.update_qoe, now=int(ts), bitrate=bitrate)
            return []
        if kind == "player":
            report = _inputs.player_report(raw)
            return self._player_report(report) if report is not None else []
        if kind == "adskip":
            ts = raw.get("ts")
            return self._skip(int(ts)) if is_number(ts) else []
        obs = _inputs.observation(raw)
        if obs is None:
            return []
        src = raw.get("src")
        if self.mode is Mode.CONTENT and isinstance(src, str) and src:
            if self._content_url is None:
                self._content_url = src
            elif src != self._content_url:
                return [Command(Action.NEW_MEDIA, src=src)]  # not handled: the binding re-reads the element
        if self.mode is Mode.CONTENT:
            return self._content(obs)
        if self._source is not None and isinstance(src, str) and src != self._source:
            return []  # an event the previous source fired before the swap (the content's first frame...)
        return self._in_break(obs)

    # ------------------------------------------------------------------ player library

    def _player_report(self, report: _inputs.PlayerReport) -> list[Command]:
        """What an adaptive player said (players.js): its rendition, dropped frames and stream
        clock are QoE and stream facts at any time; its stalls, fatal errors and end are player
        events, handled as the element's own are (only the content's, not an ad's)."""
        ts = report.element.ts
        if report.kind is _inputs.PlayerReportKind.RENDITION and report.bandwidth is not None:
            self.driver.call(self.tracker.update_qoe, now=ts, bitrate=report.bandwidth,
                             frames_per_second=report.fps)
        elif report.kind is _inputs.PlayerReportKind.FRAMES and report.dropped is not None:
            self.driver.call(self.tracker.update_qoe, now=ts, dropped_frames=report.dropped)
        elif report.kind is _inputs.PlayerReportKind.STREAM:
            self.driver.call(self.tracker.note_stream, now=ts, live=report.live, origin=report.origin)
        elif report.kind is _inputs.PlayerReportKind.ERROR and not report.fatal and report.error_id is not None:
            if self.tracker.state in OPEN_STATES:
                self.driver.call(self.tracker.report_error, report.error_id, now=ts, source="player")
        elif (obs := report.event) is not None:
            if self.mode is Mode.CONTENT:
                return self._content(obs)
            if obs.event is PlayerEvent.FAILED:
                return self._in_break(replace(obs, event=PlayerEvent.ERROR))
        return []

    # ------------------------------------------------------------------ content

    def _content(self, obs: Observation) -> list[Command]:
        self.driver.observe(obs)
        state = self.tracker.state
        if state not in OPEN_STATES:
            return []
        plan = self._due_break(obs)
        if plan is not None:
            return self._start_break(plan, obs)
        if obs.event in _CHAPTER_CHECKS and state in (Playback.PLAYING, Playback.PAUSED):
            self._sync_chapter(obs)
        return []

    def _due_break(self, obs: Observation) -> AdBreakPlan | None:
        """The break to play now: the pre-roll on the first play, a mid-roll once the content
        playhead reaches it in playback. A seek past several breaks plays only the last one."""
        if self._next_plan >= len(self._plans):
            return None
        if self.tracker.state not in (Playback.STARTING, Playback.PLAYING) or self.tracker.in_ad_break:
            return None
        if obs.event not in (PlayerEvent.PLAY, PlayerEvent.PLAYING, PlayerEvent.TIMEUPDATE):
            return None
        due = None
        while self._next_plan < len(self._plans) and self._plans[self._next_plan].offset <= obs.playhead + 0.05:
            due = self._plans[self._next_plan]
            self._next_plan += 1
        return due

    def _start_break(self, plan: AdBreakPlan, obs: Observation) -> list[Command]:
        self._plan, self._ad_index = plan, 0
        self._resume_at = obs.playhead
        self.driver.call(self.tracker.start_ad_break, plan.info(), now=obs.ts, playhead=obs.playhead)
        return self._load_ad()

    def _sync_chapter(self, obs: Observation) -> None:
        if not self.chapters:
            return
        current, wanted = self.tracker.chapter, self.chapters.at(obs.playhead)
        if current == wanted:
            return
        if wanted is None:
            self.driver.call(self.tracker.leave_chapter, now=obs.ts)
        else:
            self.driver.call(self.tracker.start_chapter, wanted, now=obs.ts, playhead=obs.playhead)

    # ------------------------------------------------------------------ ad break

    def _in_break(self, obs: Observation) -> list[Command]:
        if obs.event is PlayerEvent.ERROR:
            return self._ad_failed(obs)
        if self.mode is Mode.AD_LOADING:
            if self.load_pending and obs.event in (PlayerEvent.PAUSE, PlayerEvent.PLAY):
                # The element still has the content (the source is not swapped yet), so this is
                # the viewer's: a pause holds the break until they play again. Not reported: no
                # playback event may come between adBreakStart and the first adStart (spec §4.5).
                self.viewer_paused = obs.event is PlayerEvent.PAUSE
                return []
            if obs.event is PlayerEvent.PLAYING:
                self._forward(obs)  # a pre-roll's first frame ends the content's "starting"
                assert self._plan is not None
                clip = self._plan.ads[self._ad_index]
                self.driver.call(self.tracker.start_ad, clip.info(self._ad_index + 1, self._player_name), now=obs.ts)
                self.mode = Mode.AD
            elif obs.event in _LOADING_FORWARDED:
                self._forward(obs)
            return []
        if self.mode is Mode.RESUMING:
            if obs.event is PlayerEvent.SEEKED:
                self._resume_at = min(self._resume_at, obs.playhead)  # wherever it landed, even the viewer's
            elif obs.event is PlayerEvent.PLAYING and obs.playhead >= self._resume_at - RESUME_TOLERANCE:
                self.mode = Mode.CONTENT
                self._source = None
                return self._content(obs)
            if obs.event in _LOADING_FORWARDED:
                self._forward(obs)
            return []
        # Mode.AD
        if obs.event is PlayerEvent.ENDED:
            # An ad left before it played out is skipped (spec §4.5), whether by the button or by
            # the viewer seeking it to its end.
            ended = self.tracker.skip_ad if self._ad_sought_ahead else self.tracker.complete_ad
            self.driver.call(ended, now=obs.ts)
            return self._next_ad(obs.ts)
        if obs.event is PlayerEvent.SEEKING and obs.playhead > self._ad_time + AD_SEEK_TOLERANCE:
            self._ad_sought_ahead = True
        if obs.event is PlayerEvent.TIMEUPDATE:
            self._ad_time = max(self._ad_time, obs.playhead)
            return self._skip_button(obs.playhead)
        if obs.event is PlayerEvent.PAUSE and obs.ended:
            return []  # the pause an element fires as the ad ends
        if obs.event in _AD_FORWARDED:
            self._forward(obs)
        return []

    def _forward(self, obs: Observation) -> None:
        self.driver.observe(replace(obs, duration=None))  # the ad's length is not the content's

    def _skip_button(self, ad_time: float) -> list[Command]:
        assert self._plan is not None
        skip_after = self._plan.ads[self._ad_index].skip_after
        if skip_after is None or self._skip_shown or ad_time < skip_after:
            return []
        self._skip_shown = True
        return [Command(Action.SHOW_SKIP)]

    def _skip(self, ts: int) -> list[Command]:
        if self.mode is not Mode.AD or not self._skip_shown:
            return []  # a stale click (the button is hidden before anything else happens)
        self.driver.call(self.tracker.skip_ad, now=ts)
        return self._next_ad(ts)

    def _ad_failed(self, obs: Observation) -> list[Command]:
        """An ad that cannot play is reported and passed over; the content goes on."""
        assert self._plan is not None
        clip = self._plan.ads[self._ad_index]
        if self.mode is Mode.RESUMING:
            self.mode = Mode.CONTENT
            self._source = None
            return self._content(obs)
        self.driver.call(self.tracker.report_error, f"ad {clip.ad.id}: media error {obs.error_code}", now=obs.ts)
        if self.mode is Mode.AD:
            self.driver.call(self.tracker.skip_ad, now=obs.ts)
        return self._next_ad(obs.ts)

    def _next_ad(self, ts: int) -> list[Command]:
        assert self._plan is not None
        hide = [Command(Action.HIDE_SKIP)] if self._skip_shown else []
        self._skip_shown = False
        self._ad_time, self._ad_sought_ahead = 0.0, False
        self._ad_index += 1
        if self._ad_index < len(self._plan.ads):
            return hide + self._load_ad()
        self.driver.call(self.tracker.complete_ad_break, now=ts)
        self._plan = None
        self.mode = Mode.RESUMING
        return [*hide, self._load(self.content_src, self._resume_at)]

    def _load_ad(self) -> list[Command]:
        assert self._plan is not None
        self.mode = Mode.AD_LOADING
        return [self._load(self._plan.ads[self._ad_index].src, 0.0)]

    def change_media(self, media: MediaConfig, src: str, ads: Sequence[AdBreakPlan], ts: int) -> None:
        """The element's source changed to other content: a new viewing of ``media`` with its
        own ad schedule; chapters come again from the new source's track."""
        self.driver.call(self.tracker.change_media, media, now=ts)
        self.content_src = self._content_url = src
        self.chapters = Chapters(())
        self._plans, self._next_plan = list(ads), 0

    def loaded(self) -> bool:
        """The binding carried out the last "load" command (the element's source is swapped):
        whether to play it, which is not the case when the viewer paused before the swap."""
        play, self.load_pending, self.viewer_paused = not self.viewer_paused, False, False
        return play

    def _load(self, src: str | None, at: float) -> Command:
        """Until the break is over, the element's events from any other source than this one
        are stale (fired before the swap took effect) and dropped."""
        from ._urls import urljoin  # off the start-up path (_urls)

        self._source = urljoin(self._base_url, src) if self._base_url and src else None
        if src == self.content_src:
            self._content_url = self._source or self._content_url
        self.load_pending = True
        return Command(Action.LOAD, src=src, at=at)

