"""Drive a Tracker along a timeline with a fake clock, as the driver would.

Before each step at time ``t`` every deadline that falls due up to ``t`` is served (pings, the
seek settle window), exactly as the driver wakes at ``next_deadline``. The element's playhead
at a tick is the one the step names, when it names one; otherwise the tracker extrapolates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mediacollect import (
    ApiEvent,
    Driver,
    MediaConfig,
    Observation,
    Outbox,
    PlayerEvent,
    Tracker,
    TrackerConfig,
    to_body,
)
from mediacollect.transport import UrllibTransport

T0 = 1_700_000_000_000  # a session start that is not a whole minute, to catch grid mistakes

CONFIG = TrackerConfig(
    endpoint="https://example.hb-api.omtrdc.net",
    tracking_server="example.data.adobedc.net",
    report_suite="example-rsid",
    org_id="0123456789ABCDEF0123456789@AdobeOrg",
    channel="sample-channel",
    player_name="sample-html5-api-player",
    visitor_id="visitor-1",
    enable_ssl=False,
)
MEDIA = MediaConfig(id="VA API Sample Player", name="ClickMe", length=60.3333333333333, content_type="VOD")


def ms(t: float) -> int:
    return T0 + round(t * 1000)


@dataclass
class Run:
    tracker: Tracker
    events: list[ApiEvent] = field(default_factory=list)
    now: int = T0

    @classmethod
    def new(cls, config: TrackerConfig = CONFIG, media: MediaConfig = MEDIA) -> Run:
        return cls(Tracker(config, media))

    def advance(self, t: float, playhead: float | None = None) -> None:
        """Serve every deadline up to ``t``; a deadline exactly at ``t`` gets ``playhead``."""
        target = ms(t)
        while (deadline := self.tracker.next_deadline) is not None and deadline <= target:
            self.events += self.tracker.tick(deadline, playhead if deadline == target else None)
        self.now = target

    def player(self, t: float, event: PlayerEvent, playhead: float, **extra: Any) -> list[ApiEvent]:
        self.advance(t)
        extra.setdefault("duration", MEDIA.length)
        extra.setdefault("paused", event is PlayerEvent.PAUSE)
        out = self.tracker.observe(Observation(event, ms(t), playhead, **extra))
        self.events += out
        return out

    def call(self, t: float, method: Callable[..., list[ApiEvent]], *args: Any, **kwargs: Any) -> list[ApiEvent]:
        self.advance(t)
        out = method(*args, now=ms(t), **kwargs)
        self.events += out
        return out

    def bodies(self) -> list[dict[str, Any]]:
        return [to_body(e) for e in self.events]


def seconds(event: ApiEvent) -> float:
    return (event.ts - T0) / 1000


class RecordingDriver(Driver):
    """A driver that never sends: it keeps what the tracker produced, in order."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__(tracker, Outbox(CONFIG.api_base), UrllibTransport(), lambda: T0)
        self.events: list[ApiEvent] = []

    def _queue(self, events: list[ApiEvent]) -> list[ApiEvent]:
        self.events += events
        return events


# A ten-minute clip and the observations a viewer makes watching it (generated viewings).
CLIP = MediaConfig(id="clip", length=600.0)


def viewing(actions: list[tuple[str, int]]) -> list[Observation]:
    """The observations a player makes: each action after a gap (ms); timeupdates every 250 ms
    of playback, as elements fire them."""
    out: list[Observation] = []
    t, playhead, playing = T0 + 7, 0.0, False

    def emit(event: PlayerEvent, at: int, **extra: object) -> None:
        out.append(Observation(event, at, round(playhead, 3), duration=CLIP.length, paused=not playing,
                               **extra))  # type: ignore[arg-type]

    for action, gap in actions:
        end = t + gap
        while playing and t + 250 < end:
            t += 250
            playhead += 0.25
            emit(PlayerEvent.TIMEUPDATE, t)
        playhead += (end - t) / 1000 if playing else 0
        t = end
        if action == "play" and not playing:
            emit(PlayerEvent.PLAY, t)
            playing = True
            t += 40
            emit(PlayerEvent.PLAYING, t)
        elif action == "pause" and playing:
            playing = False
            emit(PlayerEvent.PAUSE, t)
        elif action == "seek":
            emit(PlayerEvent.SEEKING, t)
            playhead = min(playhead + 30, CLIP.length - 60)
            t += 60
            emit(PlayerEvent.SEEKED, t)
    return out
