"""Stall inference: a playing element whose playhead has not moved for ``STALL_MS`` is buffering,
"waiting" event or not (browsers often send none). Armed by the first ``timeupdate``: an observer
that sends none, or an integrator feeding events by hand, never gets inferred buffering."""

from __future__ import annotations

from ._lazy import lazy_dataclass
from ._state import STALL_MS


@lazy_dataclass(frozen=False)
class StallWatch:
    armed: bool = False
    inferred: bool = False  # the current buffering was inferred here, not reported
    playhead: float = -1.0  # the playhead last noted
    since: int = 0  # when the playhead last moved (or the watch last started over)

    def note(self, playhead: float, ts: int) -> None:
        """The playhead at ``ts``; the clock starts over when it moved."""
        if playhead != self.playhead:
            self.playhead, self.since = playhead, ts

    def restart(self, ts: int) -> None:
        """Playback of content (re)starts at ``ts``: a stall is counted from then at the earliest."""
        self.since = max(self.since, ts)

    def moved_at(self, ts: int) -> bool:
        return self.since == ts

    def due(self, watching: bool) -> int | None:
        """When the playhead will have stood still too long, if ``watching`` (content playing)."""
        return self.since + STALL_MS if self.armed and watching else None
