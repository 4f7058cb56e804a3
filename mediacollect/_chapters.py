"""Chapters read from the page itself: the cues of a ``<track kind="chapters">`` WebVTT file.

The shim hands over each cue as ``{"start": s, "end": s, "text": title}``; which chapter the
playhead is in decides chapterStart. Whether leaving one is a complete or a skip is the
tracker's rule (``CHAPTER_END_TOLERANCE``), so every chapter source ends chapters alike.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from ._events import ChapterInfo
from .rules import is_number

MAX_CHAPTERS = 500
MAX_TITLE = 255


class Chapters:
    """Non-overlapping chapters sorted by offset; cues that overlap an earlier one are dropped
    (WebVTT allows nesting, the protocol does not: spec §4.6, one chapter at a time)."""

    def __init__(self, chapters: Iterable[ChapterInfo]) -> None:
        self.items = tuple(chapters)
        self._starts = [c.offset for c in self.items]

    @classmethod
    def from_cues(cls, cues: Iterable[Mapping[str, object]]) -> Chapters:
        spans: list[tuple[float, float, str]] = []
        for cue in cues:
            start, end, text = cue.get("start"), cue.get("end"), cue.get("text")
            if not _is_time(start) or not _is_time(end) or not end > start:  # type: ignore[operator]
                continue
            title = " ".join(str(text or "").split())[:MAX_TITLE] or None
            spans.append((float(start), float(end), title or ""))  # type: ignore[arg-type]
        spans.sort()
        kept: list[ChapterInfo] = []
        for start, end, title in spans[:MAX_CHAPTERS]:
            if kept and start < kept[-1].offset + kept[-1].length:
                continue
            kept.append(ChapterInfo(index=len(kept) + 1, offset=start, length=round(end - start, 3),
                                    friendly_name=title or None))
        return cls(kept)

    def at(self, playhead: float) -> ChapterInfo | None:
        """The chapter whose [offset, offset + length) holds ``playhead``, if any."""
        i = bisect.bisect_right(self._starts, playhead) - 1
        if i < 0:
            return None
        chapter = self.items[i]
        return chapter if playhead < chapter.offset + chapter.length else None

    def __len__(self) -> int:
        return len(self.items)


def _is_time(value: object) -> bool:
    return is_number(value) and value >= 0
