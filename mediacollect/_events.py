"""Plain data that flows through the tracker: player observations in, API events out.

Observations speak the language of an HTML5 media element; API events speak the language of
the protocol but with Python names. Only ``_wire`` turns API events into JSON field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum

from ._lazy import lazy_dataclass


class EventType(StrEnum):
    """The protocol's event types (spec §2.1); the value is the wire name."""

    SESSION_START = "sessionStart"
    PLAY = "play"
    PING = "ping"
    PAUSE_START = "pauseStart"
    BUFFER_START = "bufferStart"
    BITRATE_CHANGE = "bitrateChange"
    ERROR = "error"
    AD_BREAK_START = "adBreakStart"
    AD_START = "adStart"
    AD_COMPLETE = "adComplete"
    AD_SKIP = "adSkip"
    AD_BREAK_COMPLETE = "adBreakComplete"
    CHAPTER_START = "chapterStart"
    CHAPTER_COMPLETE = "chapterComplete"
    CHAPTER_SKIP = "chapterSkip"
    STATE_START = "stateStart"
    STATE_END = "stateEnd"
    SESSION_COMPLETE = "sessionComplete"
    SESSION_END = "sessionEnd"


class PlayerEvent(StrEnum):
    """What a media element reports (the HTML5 event names the DOM adapter forwards)."""

    PLAY = "play"  # the viewer (or autoplay) asked to play
    PLAYING = "playing"  # frames are rendering
    PAUSE = "pause"
    WAITING = "waiting"  # stalled for data
    SEEKING = "seeking"
    SEEKED = "seeked"
    ENDED = "ended"
    ERROR = "error"
    DURATION = "durationchange"  # also loadedmetadata: the length became known
    STATE = "statechange"  # mute, fullscreen, picture-in-picture or captions may have changed
    TEARDOWN = "teardown"  # the page or the player is going away
    PAGE_CLOSED = "pageclosed"  # the page went away and its shim already sent sessionEnd
    TIMEUPDATE = "timeupdate"  # the playhead moved (about 4 times a second while playing)
    # What an adaptive player library says about the element it plays in (players.js):
    STALL = "stall"  # its buffer ran dry while playing, whatever the element says
    STALL_END = "stall-end"  # its stall is over
    FAILED = "failed"  # a fatal error: the library stopped (``Observation.error_id`` says why)


@lazy_dataclass
class Observation:
    """One thing the player did, stamped when it happened (not when Python heard of it)."""

    event: PlayerEvent
    ts: int  # UTC milliseconds
    playhead: float  # element currentTime, seconds
    duration: float | None = None  # element duration; inf for live, None/NaN when unknown
    paused: bool = False
    ended: bool = False
    seeking: bool = False  # the element is seeking: its position is where it is going
    error_code: int | None = None
    error_message: str | None = None
    error_id: str | None = None  # FAILED: the library's own error code, as "<library>:<code>"
    # Standard player states the element is in (spec §4.7 names); None: the observer cannot tell.
    states: frozenset[str] | None = None
    dropped_frames: int | None = None  # getVideoPlaybackQuality().droppedVideoFrames
    total_frames: int | None = None  # getVideoPlaybackQuality().totalVideoFrames (for the frame rate)


@lazy_dataclass
class SessionParams:
    """Everything a sessionStart says about who is watching what (spec §3.1–3.4)."""

    tracking_server: str
    report_suite: str
    org_id: str
    media_id: str
    length: float
    content_type: str
    player_name: str
    channel: str
    media_name: str | None = None
    stream_type: str | None = None
    visitor_id: str | None = None
    enable_ssl: bool | None = None
    app_installation_id: str | None = None
    sdk_version: str | None = None
    resume: bool = False
    standard_metadata: Mapping[str, str] = field(default_factory=dict)  # keyed by wire name


@lazy_dataclass
class AdBreakInfo:
    pod_index: int
    pod_second: float | None = None  # None: the content playhead where the break starts
    friendly_name: str | None = None


@lazy_dataclass
class AdInfo:
    id: str
    length: float
    pod_position: int
    player_name: str
    name: str | None = None
    advertiser: str | None = None
    campaign_id: str | None = None
    creative_id: str | None = None
    site_id: str | None = None
    creative_url: str | None = None
    placement_id: str | None = None
    custom_metadata: Mapping[str, str] = field(default_factory=dict)


@lazy_dataclass
class ChapterInfo:
    index: int
    offset: float
    length: float
    friendly_name: str | None = None
    custom_metadata: Mapping[str, str] = field(default_factory=dict)


@lazy_dataclass
class Qoe:
    """Quality-of-experience values (spec §3.8); None means "not known, do not send"."""

    bitrate: int | None = None
    dropped_frames: int | None = None
    frames_per_second: int | None = None
    time_to_start: int | None = None  # ms, play request to first frame
    error_id: str | None = None
    error_source: str | None = None  # "player" | "external"

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


@lazy_dataclass
class ApiEvent:
    """One request the protocol wants sent, in order. ``session`` counts sessionStarts so the
    delivery side knows which session (sid) an event belongs to."""

    type: EventType
    playhead: float
    ts: int
    session: int
    session_params: SessionParams | None = None
    ad_break: AdBreakInfo | None = None
    ad: AdInfo | None = None
    chapter: ChapterInfo | None = None
    state_name: str | None = None
    qoe: Qoe | None = None
    custom_metadata: Mapping[str, str] | None = None
