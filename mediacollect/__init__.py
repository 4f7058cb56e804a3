"""mediacollect: track HTML5 video playback into Adobe's Media Collection API.

A sans-I/O core (``Tracker``: player observations and ``now`` in, API events and the next
deadline out; ``Outbox``: those events as ordered HTTP requests) plus a small asyncio
``Driver`` that owns the clock and the transport. ``mediacollect.browser`` binds it to a page
running on Pyodide; nothing else in the package touches the browser.
"""

from ._config import MediaConfig, TrackerConfig
from ._driver import Driver
from ._errors import ConfigError, MediaCollectError, UsageError, ValidationError
from ._events import (
    AdBreakInfo,
    AdInfo,
    ApiEvent,
    ChapterInfo,
    EventType,
    Observation,
    PlayerEvent,
    Qoe,
)
from ._outbox import Outbox, Report
from ._rules import Problem, validate_body
from ._state import Playback
from ._tracker import Tracker
from ._version import __version__
from ._wire import SessionLocation, parse_location, to_body

__all__ = [
    "AdBreakInfo",
    "AdInfo",
    "ApiEvent",
    "ChapterInfo",
    "ConfigError",
    "Driver",
    "EventType",
    "MediaCollectError",
    "MediaConfig",
    "Observation",
    "Outbox",
    "Playback",
    "PlayerEvent",
    "Problem",
    "Qoe",
    "Report",
    "SessionLocation",
    "Tracker",
    "TrackerConfig",
    "UsageError",
    "ValidationError",
    "__version__",
    "parse_location",
    "to_body",
    "validate_body",
]
