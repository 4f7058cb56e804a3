"""What is open besides playback: the ad break and ad, the chapter, the player states.

Each is told to the server once when it starts and again on every new session that continues
the viewing (renewal, resume after an idle expiry: spec §4.7, §4.10, §4.17). The tracker sends
the events; these classes keep what is open and the nesting rules (spec §4.5, §4.6, §4.7).
"""

from __future__ import annotations

from ._errors import UsageError
from ._events import AdBreakInfo, AdInfo, ChapterInfo
from ._state import AD_CALLS_ALLOWED, AdPosition

_WHERE = {AdPosition.CONTENT: "outside an ad break", AdPosition.BREAK: "in an ad break with no ad open",
          AdPosition.AD: "while an ad is open"}
# A chapter left within this many seconds of its end counts as completed, not skipped.
CHAPTER_END_TOLERANCE = 1.0


class AdsAndChapter:
    def __init__(self) -> None:
        self.ad_break: AdBreakInfo | None = None
        self.ad: AdInfo | None = None
        self.chapter: ChapterInfo | None = None
        # The content playhead while a break is open: ads do not move it (spec §4.2).
        self.frozen_playhead: float | None = None

    @property
    def position(self) -> AdPosition:
        if self.ad is not None:
            return AdPosition.AD
        return AdPosition.BREAK if self.ad_break is not None else AdPosition.CONTENT

    def allow(self, call: str) -> None:
        """Raise UsageError unless ``call`` is allowed where the ads are now (AD_CALLS_ALLOWED)."""
        if call not in AD_CALLS_ALLOWED[self.position]:
            raise UsageError(f"{call}: not allowed {_WHERE[self.position]} (spec §4.5 nesting)")

    def open_break(self, info: AdBreakInfo, content_playhead: float) -> None:
        self.ad_break = info
        self.frozen_playhead = content_playhead

    def close_break(self) -> float:
        """The break is over; returns the content playhead it froze."""
        assert self.frozen_playhead is not None
        frozen = self.frozen_playhead
        self.ad_break = self.ad = None
        self.frozen_playhead = None
        return frozen

    def chapter_reached_end(self, playhead: float) -> bool:
        """Whether leaving the open chapter at ``playhead`` completes it (else it is skipped)."""
        assert self.chapter is not None
        return playhead >= self.chapter.offset + self.chapter.length - CHAPTER_END_TOLERANCE

    def chapter_holds(self, playhead: float) -> bool:
        chapter = self.chapter
        return chapter is None or chapter.offset <= playhead < chapter.offset + chapter.length

    def clear(self) -> None:
        self.ad_break = self.ad = self.chapter = None
        self.frozen_playhead = None


class PlayerStates:
    """The standard and custom player states (spec §4.7): which are active, which were seen in
    this session (at most ``limit`` distinct ones), which the element itself reports."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.active: list[str] = []
        self._seen: set[str] = set()
        self._element: set[str] = set()  # the part of ``active`` the element reports

    def may_start(self, name: str) -> bool | None:
        """True: start it; None: already active (nothing to send); False: over the limit."""
        if name in self.active:
            return None
        return name in self._seen or len(self._seen) < self._limit

    def started(self, name: str) -> None:
        self._seen.add(name)
        self.active.append(name)

    def ended(self, name: str) -> bool:
        if name not in self.active:
            return False
        self.active.remove(name)
        return True

    @property
    def element(self) -> frozenset[str]:
        return frozenset(self._element)

    def element_changes(self, states: frozenset[str]) -> tuple[list[str], list[str]]:
        """(states to end, states to start) for what the element reports now; states started by
        hand are left alone."""
        changes = sorted(self._element - states), sorted(states - self._element)
        self._element = set(states)
        return changes

    def take_active(self) -> list[str]:
        """A new session starts: what was active, to start again on it."""
        active, self.active = self.active, []
        self._seen = set()
        return active

    def clear(self) -> None:
        self.active.clear()
        self._element.clear()
