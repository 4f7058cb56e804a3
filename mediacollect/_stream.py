"""The live stream's clock: what an adaptive player knows that the element does not.

A live playhead is the second of the day, UTC, of the stream position being played (spec §4.2,
§3.3). When the player knows the wall time of the element's position 0 (a playlist's program
date-times) that is exact, and a seek back in the window goes back in the day too; otherwise it
is the second of the day of the moment itself. The player may also say the stream is live while
the element reports a finite duration (a sliding window's): it stays live for good.
"""

from __future__ import annotations

import math

from ._lazy import lazy_dataclass

DAY_MS = 86_400_000


@lazy_dataclass(frozen=False)
class StreamClock:
    origin: int | None = None  # UTC ms of the element's position 0, when the player knows it
    live: bool = False  # the player says the stream is live

    def second_of_day(self, element_position: float, at: int) -> float:
        """The live playhead for ``element_position`` played at ``at`` (UTC ms)."""
        if self.origin is None:
            return (at % DAY_MS) / 1000.0
        return ((self.origin + math.floor(element_position * 1000 + 0.5)) % DAY_MS) / 1000.0

    def forget(self) -> None:
        """Other media: nothing the player said about the last stream holds."""
        self.origin, self.live = None, False
