"""Settings, checked once, with errors that name the field and the rule.

Two levels, because a page has one account and many videos:

* ``TrackerConfig``: where to send and whose report suite (one per page).
* ``MediaConfig``: what one video is (id, name, metadata), usually from data attributes.

Both are built from plain mappings (a page's JSON block, ``data-*`` attributes) by
``from_mapping``, which refuses unknown fields so a typo cannot silently drop a setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from . import rules
from ._errors import ConfigError
from ._lazy import lazy_dataclass, materialize

STREAM_TYPES = ("video", "audio")
CONTENT_PING_RANGE = (1.0, 60.0)  # seconds
AD_PING_INTERVALS = (1.0, 10.0)  # seconds; spec §4.3
LOG_LEVELS = ("debug", "info", "warning", "error", "silent")


class Consent(StrEnum):
    """Whether the viewer agreed to tracking."""

    GRANTED = "granted"  # send at once
    PENDING = "pending"  # hold events until the page calls opt-in (opt-out drops them)
    REFUSED = "refused"  # after opt-out: drop what waits and every later event


# The consent a page may start with (REFUSED is reached by opting out).
INITIAL_CONSENT = (Consent.GRANTED, Consent.PENDING)


@lazy_dataclass
class TrackerConfig:
    """Page-level settings. Field names are also the keys of the page's JSON config block."""

    endpoint: str  # the API base, the part before /api/v1 (e.g. https://example.hb-api.omtrdc.net)
    tracking_server: str
    report_suite: str
    org_id: str
    channel: str
    player_name: str
    visitor_id: str | None = None
    app_installation_id: str | None = None
    enable_ssl: bool | None = True
    # Ping cadence (spec §4.3): 10 s in content; 1 s in ads by default because the event-type
    # pages, the timelines and the SDKs all do so (only one 2024 page says 10 s).
    content_ping_interval: float = 10.0
    ad_ping_interval: float = 1.0
    # A paused/stalled session whose playhead has not moved for this long is closed by the
    # server (spec §4.10); we end it ourselves a little earlier and resume on the next play.
    idle_timeout: float = 29 * 60.0
    max_session_duration: float = 24 * 3600.0 - 60.0  # renew before the 24 h limit
    request_timeout: float = 10.0  # seconds per HTTP request
    consent: Consent = Consent.GRANTED  # one of INITIAL_CONSENT
    # What reaches the browser console: "debug"/"info" (every request), "warning" (retries and
    # drops too), "error" (only what was lost or refused), "silent". The page's log shows all.
    log_level: str = "info"

    def __post_init__(self) -> None:
        _check_url("endpoint", self.endpoint)
        for name in ("tracking_server", "report_suite", "org_id", "channel", "player_name"):
            check_text(name, getattr(self, name), required=True)
        for name in ("visitor_id", "app_installation_id"):
            check_text(name, getattr(self, name), required=False)
        if self.log_level not in LOG_LEVELS:
            raise ConfigError("log_level", f"must be one of {', '.join(LOG_LEVELS)}")
        if self.consent not in INITIAL_CONSENT:
            raise ConfigError("consent", "must be " + " or ".join(repr(c.value) for c in INITIAL_CONSENT))
        object.__setattr__(self, "consent", Consent(self.consent))
        if self.enable_ssl is not None and not isinstance(self.enable_ssl, bool):
            raise ConfigError("enable_ssl", "must be true or false")
        low, high = CONTENT_PING_RANGE
        if not rules.is_number(self.content_ping_interval) or not low <= self.content_ping_interval <= high:
            raise ConfigError("content_ping_interval", f"must be a number of seconds from {low:g} to {high:g}")
        if not rules.is_number(self.ad_ping_interval) or self.ad_ping_interval not in AD_PING_INTERVALS:
            one, other = AD_PING_INTERVALS
            raise ConfigError("ad_ping_interval", f"must be {one:g} or {other:g} (seconds; spec §4.3)")
        for name, low, high in (
            ("idle_timeout", 1.0, 30 * 60.0),
            ("max_session_duration", 60.0, 24 * 3600.0),
            ("request_timeout", 0.1, 120.0),
        ):
            value = getattr(self, name)
            if not rules.is_number(value) or not low <= value <= high:
                raise ConfigError(name, f"must be a number of seconds from {low:g} to {high:g}")

    @property
    def api_base(self) -> str:
        return self.endpoint.rstrip("/") + "/api/v1"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TrackerConfig:
        return _from_mapping(cls, data)


@lazy_dataclass
class MediaConfig:
    """One video. ``length``/``content_type`` left as None are taken from the element."""

    id: str
    name: str | None = None
    length: float | None = None
    content_type: str | None = None
    stream_type: str = "video"
    custom_metadata: Mapping[str, str] = field(default_factory=dict)
    standard_metadata: Mapping[str, str] = field(default_factory=dict)  # e.g. {"media.show": "..."}

    def __post_init__(self) -> None:
        check_text("id", self.id, required=True)
        check_text("name", self.name, required=False)
        if self.length is not None and (not rules.is_number(self.length) or self.length <= 0):
            raise ConfigError("length", "must be a number of seconds greater than 0")
        if self.content_type is not None:
            check_text("content_type", self.content_type, required=True)
        if self.stream_type not in STREAM_TYPES:
            raise ConfigError("stream_type", "must be 'video' or 'audio'")
        if not isinstance(self.custom_metadata, Mapping):
            raise ConfigError("custom_metadata", "must be an object of string values")
        for key, rule in rules.custom_metadata_problems(self.custom_metadata)[:1]:
            raise ConfigError(f"custom_metadata.{key}", rule)
        if not isinstance(self.standard_metadata, Mapping):
            raise ConfigError("standard_metadata", "must be an object of string values")
        for key, value in self.standard_metadata.items():
            if key not in rules.STANDARD_METADATA_KEYS:
                raise ConfigError(f"standard_metadata.{key}", "is not a standard metadata key (spec §3.4)")
            if not isinstance(value, str):
                raise ConfigError(f"standard_metadata.{key}", "must be a string")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MediaConfig:
        return _from_mapping(cls, data)


_T = TypeVar("_T", TrackerConfig, MediaConfig)


def _from_mapping(cls: type[_T], data: Mapping[str, Any]) -> _T:
    if not isinstance(data, Mapping):
        raise ConfigError("(config)", "must be an object")
    known = {f.name: f for f in fields(materialize(cls))}
    for key in data:
        if key not in known:
            raise ConfigError(str(key), f"is not a known field (known: {', '.join(sorted(known))})")
    missing = [
        name
        for name, f in known.items()
        if f.default is MISSING and f.default_factory is MISSING and name not in data
    ]
    if missing:
        raise ConfigError(missing[0], "is required")
    return cls(**dict(data))


def check_text(name: str, value: object, *, required: bool = False) -> str | None:
    """``value`` if it is a non-empty string (or None when not ``required``), else ConfigError."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, "must be a non-empty string")
    return value


# scheme://host[:port][/path] with no query or fragment; checked without urllib.parse, whose
# import alone costs ~0.15 s of page start-up in Pyodide.
_URL = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?P<host>[^/?#\s]+)(?P<path>/[^?#\s]*)?(?P<rest>[?#].*)?$")


def _check_url(name: str, value: object) -> None:
    match = _URL.match(value) if isinstance(value, str) else None
    if match is None or match["scheme"].lower() not in ("http", "https"):
        raise ConfigError(name, "must be an http(s) URL such as https://example.hb-api.omtrdc.net")
    if match["rest"]:
        raise ConfigError(name, "must not have a query or fragment")
    if (match["path"] or "").rstrip("/").endswith("/api/v1"):
        raise ConfigError(name, "is the base before /api/v1 (leave /api/v1 off)")
