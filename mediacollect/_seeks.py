"""Seek settling: a scrubbing storm (seeking/seeked bursts) is one seek that ends when no new
``seeking`` came for ``SEEK_SETTLE_MS`` after a ``seeked`` (our choice; spec §4.4 says seeks need
no events of their own). What playback does then is ``_state.SEEK_SETTLED``."""

from __future__ import annotations

from ._lazy import lazy_dataclass
from ._state import SEEK_SETTLE_MS, Playback


@lazy_dataclass(frozen=False)
class SeekSettling:
    due: int | None = None  # when the seek counts as settled
    origin: Playback = Playback.PLAYING  # the state the seek began in
    landed_ts: int = 0  # the last seeked: when, and where the playhead landed
    landed_playhead: float = 0.0

    def begin(self, origin: Playback) -> None:
        self.origin = origin
        self.due = None

    def seeking(self) -> None:
        """Still scrubbing: the seek has not settled."""
        self.due = None

    def seeked(self, ts: int, playhead: float) -> None:
        self.landed_ts, self.landed_playhead = ts, playhead
        self.due = ts + SEEK_SETTLE_MS

    def cancel(self) -> None:
        self.due = None
