"""mediacollect: track HTML5 video playback into Adobe's Media Collection API.

A sans-I/O core (``Tracker``: player observations and ``now`` in, API events and the next
deadline out; ``rules``: what a request may contain) plus a delivery layer (``Outbox``: those
events as ordered HTTP requests; ``Driver``: the asyncio loop that owns the clock and the
transport). ``mediacollect.browser`` binds it to a page running on Pyodide; nothing else in the
package touches the browser.

Importing the package (or ``mediacollect.rules``) loads the core only: the delivery names are
imported on first use, so a user of the rules (the emulator) never loads asyncio or a transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import MediaConfig, TrackerConfig
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
from ._http import HttpRequest, HttpResponse
from ._state import Playback
from ._tracker import Tracker
from ._version import __version__
from ._wire import SessionLocation, parse_location, to_body
from .rules import Problem, validate_body

if TYPE_CHECKING:
    from ._driver import Driver
    from ._outbox import Outbox, Report, ReportKind

# The delivery layer, loaded on first use: name -> module.
_DELIVERY = {"Driver": "._driver", "Outbox": "._outbox", "Report": "._outbox", "ReportKind": "._outbox"}


def __getattr__(name: str) -> Any:
    module = _DELIVERY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AdBreakInfo",
    "AdInfo",
    "ApiEvent",
    "ChapterInfo",
    "ConfigError",
    "Driver",
    "EventType",
    "HttpRequest",
    "HttpResponse",
    "MediaCollectError",
    "MediaConfig",
    "Observation",
    "Outbox",
    "Playback",
    "PlayerEvent",
    "Problem",
    "Qoe",
    "Report",
    "ReportKind",
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
