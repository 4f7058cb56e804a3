"""What a session's events mean: standard metrics, the timeline plot's segments, sequence warnings.

Adobe's back end turns the events of a closed session into the "close call" metrics
(Media time spent, Content starts, Pause events, ...). This module does the same from the events
in processing order (``ts`` order after the reorder window), one walk over them, so the UI, the
metrics endpoint and the tests read one computation. Every definition is written, with its
source, in docs/metrics.md; where Adobe's documentation leaves a case open the decision is there.

The walk keeps a small state: the playback state (idle before the first play, playing, paused,
buffering, stopped by an error, ended after sessionComplete), whether an ad break and an ad are
open, and which chapter is open. The time between two consecutive events is credited to the
state the first one left (Adobe: "elapsed wall-clock time between events while in the play state").

Collection never rejects a wrong sequence (spec §4.15: the server validates one event at a time),
so the walk records what Adobe would silently mis-attribute as warnings instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mediacollect import rules

PROGRESS_MARKERS = (10, 25, 50, 75, 95)



class WalkState(StrEnum):
    """The playback state of the walk."""

    IDLE = "idle"  # before the first play
    PLAYING = "playing"
    PAUSED = "paused"
    BUFFERING = "buffering"
    ERROR = "error"  # stopped by an error
    ENDED = "ended"  # after sessionComplete
    CLOSED = "closed"  # after sessionEnd


class SegmentKind(StrEnum):
    """What a stretch of the timeline plot shows (the UI colours it by this value)."""

    CONTENT = "content"
    AD = "ad"
    BREAK = "break"  # in an ad break, between ads
    PAUSE = "pause"
    BUFFER = "buffer"
    ERROR = "error"
    IDLE = "idle"
    ENDED = "ended"


class Outcome(StrEnum):
    """How a chapter or an ad ended."""

    COMPLETE = "complete"
    SKIP = "skip"
    OPEN = "open"  # not ended (yet)
    CUT = "cut"  # the session or the break ended first


IDLE, PLAYING, PAUSED, BUFFERING, ERROR, ENDED, CLOSED = WalkState  # short names, in declaration order


def _number(value: Any, default: float = 0.0) -> float:
    if not rules.is_number(value):
        return default
    try:
        return float(value)
    except OverflowError:  # an int beyond a double
        return default


@dataclass
class Segment:
    """A stretch of wall time in one state: one coloured piece of the timeline plot."""

    kind: SegmentKind
    start_ts: int
    end_ts: int
    playhead_start: float
    playhead_end: float


@dataclass
class Span:
    """A chapter or an ad, from its start event to whatever closed it."""

    name: str
    start_ts: int
    end_ts: int | None = None
    outcome: Outcome = Outcome.OPEN


@dataclass
class _Walk:
    state: WalkState = IDLE
    in_break: bool = False
    ad: Span | None = None
    chapter: Span | None = None
    content_started: bool = False
    max_playhead: float = 0.0
    bitrate: float | None = None
    bitrate_weighted: float = 0.0
    bitrate_time: float = 0.0
    length: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    chapters: list[Span] = field(default_factory=list)
    ads: list[Span] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _empty_metrics() -> dict[str, Any]:
    return {
        "media_starts": 0, "content_starts": 0, "content_completes": 0, "content_resumes": 0,
        "media_time_spent_s": 0.0, "content_time_spent_s": 0.0,
        "ad_break_starts": 0, "ad_starts": 0, "ad_completes": 0, "ad_skips": 0, "ad_time_spent_s": 0.0,
        "chapter_starts": 0, "chapter_completes": 0, "chapter_skips": 0, "chapter_time_spent_s": 0.0,
        "pause_events": 0, "total_pause_duration_s": 0.0, "paused_impacted_stream": False,
        "buffer_events": 0, "total_buffer_duration_s": 0.0, "buffer_impacted_stream": False,
        "bitrate_changes": 0, "average_bitrate": None,
        "errors": 0, "error_ids": [],
        "dropped_frames": 0, "frames_per_second": None,
        "time_to_start_s": None, "time_to_first_content_play_s": None,
        "progress_markers": {str(p): False for p in PROGRESS_MARKERS},
        "average_minute_audience": None,
        "pings": 0,
    }


# The segment kind of each state but PLAYING (which is content, break or ad).
_SEGMENT_KINDS = {PAUSED: SegmentKind.PAUSE, BUFFERING: SegmentKind.BUFFER, ERROR: SegmentKind.ERROR,
                  ENDED: SegmentKind.ENDED}


def _segment_kind(walk: _Walk) -> SegmentKind:
    if walk.state is PLAYING:
        if walk.ad is not None:
            return SegmentKind.AD
        return SegmentKind.BREAK if walk.in_break else SegmentKind.CONTENT
    return _SEGMENT_KINDS.get(walk.state, SegmentKind.IDLE)


def _credit(walk: _Walk, seconds: float) -> None:
    """Credit the time since the previous event to the state it left."""
    m = walk.metrics
    kind = _segment_kind(walk)
    if kind in (SegmentKind.CONTENT, SegmentKind.AD):
        m["media_time_spent_s"] += seconds
        if walk.bitrate is not None:
            walk.bitrate_weighted += walk.bitrate * seconds
            walk.bitrate_time += seconds
    if kind is SegmentKind.CONTENT:
        m["content_time_spent_s"] += seconds
        if walk.chapter is not None:
            m["chapter_time_spent_s"] += seconds
    elif kind is SegmentKind.AD:
        m["ad_time_spent_s"] += seconds
    elif kind is SegmentKind.PAUSE:
        m["total_pause_duration_s"] += seconds
    elif kind is SegmentKind.BUFFER:
        m["total_buffer_duration_s"] += seconds


def _close(walk: _Walk, what: str, ts: int, outcome: Outcome) -> None:
    """End the open ad or chapter (``what``), if any, with ``outcome``."""
    span: Span | None = getattr(walk, what)
    if span is not None:
        span.end_ts, span.outcome = ts, outcome
        setattr(walk, what, None)


def _end_span(walk: _Walk, event_type: str, ts: int, what: str) -> None:
    """adComplete/adSkip and chapterComplete/chapterSkip: close the open ad or chapter, count it."""
    if getattr(walk, what) is None:
        walk.warnings.append(f"{event_type} at ts {ts} without an open {what}")
    complete = event_type.endswith("Complete")
    _close(walk, what, ts, Outcome.COMPLETE if complete else Outcome.SKIP)
    walk.metrics[f"{what}_{'completes' if complete else 'skips'}"] += 1


def _apply(walk: _Walk, event_type: str, body: Mapping[str, Any], ts: int, playhead: float) -> None:
    m = walk.metrics
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    assert isinstance(params, dict)
    if event_type == "sessionStart":
        m["media_starts"] += 1
        walk.length = _number(params.get("media.length"))
        if params.get("media.resume") is True:
            m["content_resumes"] += 1
    elif event_type == "play":
        if walk.state is ENDED:
            walk.warnings.append(f"play at ts {ts} after sessionComplete")
        walk.state = PLAYING
        if not walk.in_break and not walk.content_started:
            walk.content_started = True
            m["content_starts"] = 1
    elif event_type == "pauseStart":
        walk.state = PAUSED
        m["pause_events"] += 1
    elif event_type == "bufferStart":
        walk.state = BUFFERING
        m["buffer_events"] += 1
    elif event_type == "error":
        walk.state = ERROR
        m["errors"] += 1
    elif event_type == "bitrateChange":
        m["bitrate_changes"] += 1
    elif event_type == "ping":
        m["pings"] += 1
    elif event_type == "adBreakStart":
        if walk.in_break:
            walk.warnings.append(f"adBreakStart at ts {ts} while an ad break is open")
        walk.in_break = True
        m["ad_break_starts"] += 1
    elif event_type == "adStart":
        if not walk.in_break:
            walk.warnings.append(f"adStart at ts {ts} outside an ad break (Adobe ignores it)")
        _close(walk, "ad", ts, Outcome.CUT)
        walk.ad = Span(str(params.get("media.ad.name") or params.get("media.ad.id") or "ad"), ts)
        walk.ads.append(walk.ad)
        m["ad_starts"] += 1
        if walk.state in (IDLE, PAUSED, BUFFERING, ERROR):
            walk.state = PLAYING  # an ad plays from its start (spec §5.1: no play inside a break)
    elif event_type in ("adComplete", "adSkip"):
        _end_span(walk, event_type, ts, "ad")
    elif event_type == "adBreakComplete":
        if not walk.in_break:
            walk.warnings.append(f"adBreakComplete at ts {ts} without an open ad break")
        _close(walk, "ad", ts, Outcome.CUT)
        walk.in_break = False
    elif event_type == "chapterStart":
        if walk.chapter is not None:
            walk.warnings.append(f"chapterStart at ts {ts} while chapter {walk.chapter.name!r} is open")
        _close(walk, "chapter", ts, Outcome.CUT)
        index = params.get("media.chapter.index")
        walk.chapter = Span(str(params.get("media.chapter.friendlyName") or f"chapter {index}"), ts)
        walk.chapters.append(walk.chapter)
        m["chapter_starts"] += 1
    elif event_type in ("chapterComplete", "chapterSkip"):
        _end_span(walk, event_type, ts, "chapter")
    elif event_type == "sessionComplete":
        m["content_completes"] = 1
        walk.state = ENDED
    elif event_type == "sessionEnd":
        walk.state = CLOSED
        _close(walk, "ad", ts, Outcome.CUT)
        _close(walk, "chapter", ts, Outcome.CUT)

    qoe = body.get("qoeData")
    if isinstance(qoe, dict):
        if "media.qoe.bitrate" in qoe:
            walk.bitrate = _number(qoe["media.qoe.bitrate"])
        if "media.qoe.droppedFrames" in qoe:
            m["dropped_frames"] = max(m["dropped_frames"], int(_number(qoe["media.qoe.droppedFrames"])))
        if "media.qoe.framesPerSecond" in qoe:
            m["frames_per_second"] = _number(qoe["media.qoe.framesPerSecond"])
        if "media.qoe.timeToStart" in qoe:
            m["time_to_start_s"] = _number(qoe["media.qoe.timeToStart"]) / 1000
        error_id = qoe.get("media.qoe.errorID")
        if event_type == "error" and isinstance(error_id, str):
            m["error_ids"].append(error_id)

    # Progress markers: content playhead against media.length, once main content has played.
    if walk.content_started and walk.ad is None and not walk.in_break:
        walk.max_playhead = max(walk.max_playhead, playhead)
        if walk.length > 0:
            for marker in PROGRESS_MARKERS:
                if walk.max_playhead >= walk.length * marker / 100:
                    m["progress_markers"][str(marker)] = True


def analyse(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Metrics, plot segments, spans and warnings for one session's bodies in processing order."""
    walk = _Walk(metrics=_empty_metrics())
    previous: tuple[int, float] | None = None
    first_ts: int | None = None
    start_ts: int | None = None
    markers: list[dict[str, Any]] = []
    for body in events:
        player_time = body.get("playerTime") if isinstance(body.get("playerTime"), dict) else {}
        assert isinstance(player_time, dict)
        ts = int(_number(player_time.get("ts")))
        playhead = _number(player_time.get("playhead"))
        event_type = str(body.get("eventType"))
        if first_ts is None:
            first_ts = ts
        if previous is not None:
            previous_ts, previous_playhead = previous
            if ts == previous_ts:
                walk.warnings.append(f"{event_type} has the same ts ({ts}) as the event before it: order ambiguous "
                                     "(spec §4.9 asks for 1 ms between events)")
            seconds = max(0, ts - previous_ts) / 1000
            if walk.state is not CLOSED and seconds > 0:
                _credit(walk, seconds)
                walk.segments.append(Segment(_segment_kind(walk), previous_ts, ts, previous_playhead, playhead))
        elif event_type != "sessionStart":
            walk.warnings.append(f"the first event is {event_type}, not sessionStart")
        if walk.state is CLOSED:
            walk.warnings.append(f"{event_type} at ts {ts} after sessionEnd")
        if event_type == "sessionStart":
            start_ts = ts
        if event_type == "play" and walk.metrics["time_to_first_content_play_s"] is None and not walk.in_break \
                and start_ts is not None:
            walk.metrics["time_to_first_content_play_s"] = (ts - start_ts) / 1000
        _apply(walk, event_type, body, ts, playhead)
        markers.append({"ts": ts, "playhead": playhead, "eventType": event_type})
        previous = (ts, playhead)

    m = walk.metrics
    m["paused_impacted_stream"] = m["pause_events"] > 0
    m["buffer_impacted_stream"] = m["buffer_events"] > 0
    if walk.bitrate_time > 0:
        m["average_bitrate"] = round(walk.bitrate_weighted / walk.bitrate_time, 3)
    if walk.length > 0:
        m["average_minute_audience"] = round(m["content_time_spent_s"] / walk.length, 6)
    for key in ("media_time_spent_s", "content_time_spent_s", "ad_time_spent_s", "chapter_time_spent_s",
                "total_pause_duration_s", "total_buffer_duration_s"):
        m[key] = round(m[key], 3)
    return {
        "metrics": m,
        "warnings": walk.warnings,
        "timeline": {
            "start_ts": first_ts,
            "segments": [vars(s) for s in walk.segments],
            "chapters": [vars(s) for s in walk.chapters],
            "ads": [vars(s) for s in walk.ads],
            "events": markers,
        },
    }
