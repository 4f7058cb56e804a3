"""The ping clock (spec §4.3): a grid anchored at the session's start, one step per interval.

The interval is the content's or, during an ad break, the ad's. A late wake-up sends one ping, at
the last grid point it missed, never a burst of stale ones: pings say "still here", not a backlog.
"""

from __future__ import annotations


class PingClock:
    def __init__(self, content_interval: float, ad_interval: float) -> None:
        """Intervals in seconds (TrackerConfig.content_ping_interval / ad_ping_interval)."""
        self._content_step = int(content_interval * 1000)
        self._ad_step = int(ad_interval * 1000)
        self._anchor = 0
        self.due: int | None = None  # the next grid point (UTC ms), None without a session

    def step(self, in_ad_break: bool) -> int:
        return self._ad_step if in_ad_break else self._content_step

    def start(self, at: int, *, in_ad_break: bool) -> None:
        """A session started at ``at``: the grid is anchored there."""
        self._anchor = at
        self.schedule(at, in_ad_break=in_ad_break)

    def schedule(self, now: int, *, in_ad_break: bool) -> None:
        """The next grid point after ``now``, with the step that applies from now on."""
        step = self.step(in_ad_break)
        self.due = self._anchor + ((now - self._anchor) // step + 1) * step

    def fire(self, limit: int, *, in_ad_break: bool) -> int:
        """The one ping for a stretch up to ``limit`` (the last grid point before it); the clock
        moves on past it. Call only when ``due`` <= ``limit``."""
        assert self.due is not None
        step = self.step(in_ad_break)
        at = self.due + (limit - self.due) // step * step
        self.schedule(at, in_ad_break=in_ad_break)
        return at

    def stop(self) -> None:
        self.due = None
