"""What the page hands to Python, as plain data: settings, video attributes, shim events.

``mediacollect.browser`` reads strings and dicts off the DOM and passes them here; everything
that can be wrong with them is decided here, in plain Python that CPython tests can reach.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from enum import StrEnum
from typing import Any

from ._config import LOG_LEVELS, MediaConfig, TrackerConfig
from ._errors import ConfigError
from ._events import Observation, PlayerEvent
from ._lazy import lazy_dataclass
from ._outbox import Report, ReportKind
from .rules import is_number

# data-* attributes of the <video> (camelCased as element.dataset gives them) -> MediaConfig.
MEDIA_ATTRIBUTES = {
    "mediaId": "id",
    "mediaName": "name",
    "mediaLength": "length",
    "mediaContentType": "content_type",
    "mediaStreamType": "stream_type",
    "customMetadata": "custom_metadata",
    "standardMetadata": "standard_metadata",
}
_SHIM_EVENTS = {
    "play": PlayerEvent.PLAY,
    "playing": PlayerEvent.PLAYING,
    "pause": PlayerEvent.PAUSE,
    "waiting": PlayerEvent.WAITING,
    "seeking": PlayerEvent.SEEKING,
    "seeked": PlayerEvent.SEEKED,
    "ended": PlayerEvent.ENDED,
    "error": PlayerEvent.ERROR,
    "durationchange": PlayerEvent.DURATION,
    "loadedmetadata": PlayerEvent.DURATION,
    "volumechange": PlayerEvent.STATE,
    "enterpictureinpicture": PlayerEvent.STATE,
    "leavepictureinpicture": PlayerEvent.STATE,
    "timeupdate": PlayerEvent.TIMEUPDATE,
    "statechange": PlayerEvent.STATE,  # fullscreen or captions changed
    "teardown": PlayerEvent.TEARDOWN,
    "pageclosed": PlayerEvent.PAGE_CLOSED,
}
# Element flags the shim reports -> standard player-state names (spec §3.11, MC-API spelling).
STATE_FLAGS = {"muted": "mute", "fullscreen": "fullScreen", "pip": "pictureInPicture",
                "captions": "closedCaptioning"}


def tracker_config(config_json: str | None, endpoint: str | None, *, element: str | None = None,
                   overrides: Mapping[str, Any] | None = None) -> TrackerConfig:
    """The settings, each layer over the one before: the page's JSON block, the element's
    ``data-mediacollect`` JSON, ``track()``'s keyword arguments, and last the page URL's
    ``?endpoint=``. Either the block or the element must say something."""
    data: dict[str, Any] = {}
    for source, text in (("(config)", config_json), ("data-mediacollect", element)):
        if not text or not text.strip():
            continue
        try:
            layer = json.loads(text)
        except ValueError as err:
            raise ConfigError(source, f"is not valid JSON ({err})") from None
        if not isinstance(layer, dict):
            raise ConfigError(source, "must be a JSON object")
        data.update(layer)
    data.update(overrides or {})
    if not data:
        raise ConfigError("(config)", "is missing: add <script type=\"application/json\" id=\"mediacollect-config\"> "
                          "or settings in the element's data-mediacollect attribute")
    if endpoint:
        data["endpoint"] = endpoint
    return TrackerConfig.from_mapping(data)


def media_config(dataset: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> MediaConfig:
    """The <video>'s ``data-*`` attributes as a MediaConfig; errors name the attribute.
    ``overrides`` (MediaConfig fields, from ``track(media=...)``) win over the attributes."""
    values: dict[str, Any] = {}
    for attribute, field in MEDIA_ATTRIBUTES.items():
        if attribute not in dataset:
            continue
        raw = dataset[attribute]
        if field == "length":
            try:
                values[field] = float(raw)
            except ValueError:
                raise ConfigError(_html_name(attribute), "must be a number of seconds") from None
        elif field in ("custom_metadata", "standard_metadata"):
            try:
                values[field] = json.loads(raw)
            except ValueError:
                values[field] = None
            if not isinstance(values[field], dict):
                raise ConfigError(_html_name(attribute), "must be a JSON object of strings")
        else:
            values[field] = raw
    if overrides:
        values.update(overrides)
    if "id" not in values:
        raise ConfigError("data-media-id", "is required on the <video> (the content id, media.id)")
    try:
        return MediaConfig.from_mapping(values)
    except ConfigError as err:  # name the attribute the page author wrote, not our field
        field, _, rest = err.field.partition(".")
        if overrides and field in overrides:
            raise ConfigError(f"media.{err.field}", err.rule) from None
        html_name = next((a for a, f in MEDIA_ATTRIBUTES.items() if f == field), None)
        if html_name is None:
            raise
        raise ConfigError(_html_name(html_name) + (f".{rest}" if rest else ""), err.rule) from None


def ad_schedule(attribute: str | None, json_block: Callable[[str], str | None]) -> object:
    """``data-ad-schedule``: the schedule as JSON, or ``#id`` of a ``<script type="application/json">``
    holding it (``json_block`` reads one by id). None when the element has no ads."""
    if attribute is None or not attribute.strip():
        return None
    text: str | None = attribute
    if attribute.strip().startswith("#"):
        text = json_block(attribute.strip()[1:])
        if text is None:
            raise ConfigError("data-ad-schedule", f"names {attribute.strip()!r}, which is not on the page")
    try:
        return json.loads(text or "")
    except ValueError as err:
        raise ConfigError("data-ad-schedule", f"is not valid JSON ({err})") from None


def _html_name(attribute: str) -> str:
    """``mediaId`` (element.dataset) -> ``data-media-id`` (the HTML attribute)."""
    return "data-" + "".join("-" + c.lower() if c.isupper() else c for c in attribute)


def observation(record: Mapping[str, Any]) -> Observation | None:
    """One event as the shim stamped it (JSON), or None for an event we do not track."""
    event = _SHIM_EVENTS.get(str(record.get("type")))
    if event is None:
        return None
    ts = record.get("ts")
    if not is_number(ts):
        return None
    return Observation(
        event=event,
        ts=int(ts),
        playhead=_number(record.get("playhead")) or 0.0,
        duration=_number(record.get("duration")),
        paused=bool(record.get("paused", False)),
        ended=bool(record.get("ended", False)),
        seeking=record.get("seeking") is True,
        error_code=record.get("error_code") if isinstance(record.get("error_code"), int) else None,
        error_message=str(record["error_message"])[:300] if record.get("error_message") else None,
        states=_states(record),
        dropped_frames=record["dropped"] if type(record.get("dropped")) is int else None,
        total_frames=record["frames"] if type(record.get("frames")) is int else None,
    )


class PlayerReportKind(StrEnum):
    """What a player library reports about its element (players.js ``report`` kinds)."""

    RENDITION = "rendition"  # facts: bandwidth (bits/s, as the manifest declares it), fps
    STALL = "stall"
    STALL_END = "stall-end"
    ERROR = "error"  # facts: code (the library's), fatal, message
    FRAMES = "frames"  # facts: dropped (frames dropped so far)
    STREAM = "stream"  # facts: live, origin (UTC ms of the element's position 0)
    ENDED = "ended"  # the player was destroyed


# Reports that are player events for the tracker (an error only when fatal).
_REPORT_EVENTS = {PlayerReportKind.STALL: PlayerEvent.STALL, PlayerReportKind.STALL_END: PlayerEvent.STALL_END,
                  PlayerReportKind.ERROR: PlayerEvent.FAILED, PlayerReportKind.ENDED: PlayerEvent.TEARDOWN}
MAX_LIBRARY_NAME = 40
MAX_ERROR_CODE = 100


@lazy_dataclass
class PlayerReport:
    """One ``report`` from a player library, its facts checked; ``element`` is the element's
    state when it was made (its ``event`` is what the report means to the tracker, if anything)."""

    kind: PlayerReportKind
    library: str
    element: Observation
    bandwidth: int | None = None
    fps: float | None = None
    dropped: int | None = None
    live: bool = False
    origin: int | None = None
    error_id: str | None = None  # "<library>:<code>"
    fatal: bool = False

    @property
    def event(self) -> Observation | None:
        """The report as a player event for the tracker, or None when it is not one."""
        if self.kind is PlayerReportKind.ERROR and not self.fatal:
            return None
        return self.element if self.kind in _REPORT_EVENTS else None


def player_report(record: Mapping[str, Any]) -> PlayerReport | None:
    """A ``player`` record (shim.js ``mediacollect.report``), or None when it is malformed."""
    try:
        kind = PlayerReportKind(str(record.get("report")))
    except ValueError:
        return None
    facts = record.get("facts")
    stamped = observation({**record, "type": "statechange"})  # the element's state, as any event
    if not isinstance(facts, Mapping) or stamped is None:
        return None
    library = str(facts.get("library") or "player")[:MAX_LIBRARY_NAME]
    element = replace(stamped, event=_REPORT_EVENTS.get(kind, PlayerEvent.STATE), states=None)
    code = facts.get("code")
    error_id = f"{library}:{str(code)[:MAX_ERROR_CODE]}" if code is not None and code != "" else f"{library}:unknown"
    message = facts.get("message")
    if kind is PlayerReportKind.ERROR:
        element = replace(element, error_id=error_id,
                          error_message=str(message)[:300] if message else None)
    origin = _number(facts.get("origin"))
    return PlayerReport(
        kind, library, element,
        bandwidth=_count(facts.get("bandwidth")),
        fps=fps if (fps := _number(facts.get("fps"))) is not None and 0 < fps <= 240 else None,
        dropped=_count(facts.get("dropped")),
        live=facts.get("live") is True,
        origin=int(origin) if origin is not None and math.isfinite(origin) and 0 <= origin < 2**53 else None,
        error_id=error_id if kind is PlayerReportKind.ERROR else None,
        fatal=facts.get("fatal") is True,
    )


def _count(value: Any) -> int | None:
    """A non-negative whole number (bits/s, frames), or None."""
    number = _number(value)
    return int(number) if number is not None and math.isfinite(number) and 0 <= number < 2**53 else None


def _states(record: Mapping[str, Any]) -> frozenset[str] | None:
    if not any(flag in record for flag in STATE_FLAGS):
        return None  # a shim that does not report states: leave them alone
    return frozenset(name for flag, name in STATE_FLAGS.items() if record.get(flag) is True)


# Page signals that are not player events: what the driver should do about them.
CONTROLS = {"online": "network-back", "visible": "wake", "hidden": "wake", "opt-in": "opt-in", "opt-out": "opt-out",
            "pageshow": "resume"}


def control(record: Mapping[str, Any]) -> str | None:
    """``network-back``, ``wake``, ``opt-in``, ``opt-out`` or ``resume`` for a page signal, else None."""
    return CONTROLS.get(str(record.get("type")))


def _number(value: Any) -> float | None:
    if value == "Infinity":
        return math.inf
    if is_number(value, infinite=True):
        return float(value)
    return None


@lazy_dataclass
class LogLine:
    """One row of the page's request log."""

    event_type: str
    status: str  # HTTP status, "network", "dropped" or "warning"
    text: str
    is_error: bool
    level: str = "info"  # console level: "info", "warning" or "error"

    def shown_at(self, threshold: str) -> bool:
        """Whether the console shows this line under ``TrackerConfig.log_level``."""
        return LOG_LEVELS.index(self.level) >= LOG_LEVELS.index(threshold) and threshold != "silent"


def log_line(report: Report) -> LogLine:
    status = str(report.status) if report.status is not None else {
        ReportKind.RETRY: "network", ReportKind.DROPPED: "dropped", ReportKind.WARNING: "warning"}.get(report.kind, "-")
    latency = f" in {report.latency_ms} ms" if report.latency_ms is not None else ""
    at = f" @ {report.playhead:.1f} s" if report.playhead is not None else ""
    arrow = f"{report.event_type}{at} → {status}{latency}" if report.event_type else "tracker"
    retries = report.attempt - 1
    if retries > 0 and report.kind in (ReportKind.SESSION, ReportKind.SENT):
        arrow += f" after {retries} {'retry' if retries == 1 else 'retries'}"
    if report.kind is ReportKind.SESSION:
        return LogLine(report.event_type, status, f"{arrow} · session {report.sid}", False)
    if report.kind is ReportKind.SENT:
        return LogLine(report.event_type, status, arrow, False)
    if report.kind is ReportKind.RETRY:
        wait = (report.retry_in_ms or 0) / 1000
        return LogLine(report.event_type, status,
                       f"{arrow} · attempt {report.attempt} failed ({report.message}); retrying in {wait:.1f} s",
                       False, "warning")
    if report.kind in (ReportKind.WARNING, ReportKind.SESSION_GONE):
        return LogLine(report.event_type, status, f"{arrow} · {report.kind}: {report.message}", False, "warning")
    return LogLine(report.event_type, status, f"{arrow} · {report.kind}: {report.message}", True, "error")
