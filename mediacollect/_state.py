"""The playback state machine, as tables a reader can check against the spec.

Rules of this file:

* Everything that decides *which* API event a player observation produces lives here, as data:
  ``PLAYER_TRANSITIONS`` maps (playback state, player event) to (API event or None, next state).
  ``_tracker`` looks the pair up; it adds only what a table cannot say (stamping, playheads,
  the seek settle window, ads, renewal), each with a comment pointing at the spec.
* A pair that is not in the table is ignored: the player said something that does not change
  what the server must know (a second ``play`` while playing, ``waiting`` while paused...).
* The tables know nothing about HTTP, sids or time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from ._events import EventType, PlayerEvent


class Playback(StrEnum):
    IDLE = "idle"  # no session yet (or the last one was completed/ended)
    STARTING = "starting"  # sessionStart sent, no frame yet (spec §2.2: intent to play)
    PLAYING = "playing"
    PAUSED = "paused"
    BUFFERING = "buffering"
    SEEKING = "seeking"  # between seeking and the end of the settle window
    ERRORED = "errored"  # after a player error, until playback resumes (spec §4.8)
    COMPLETE = "complete"  # sessionComplete sent (spec §4.11)
    EXPIRED = "expired"  # we ended an idle session; the next play resumes it (spec §4.10, §4.12)
    CLOSED = "closed"  # sessionEnd sent on teardown


# States in which a session is open on the server and pings keep it alive (spec §4.3).
OPEN_STATES: Final = frozenset(
    {Playback.STARTING, Playback.PLAYING, Playback.PAUSED, Playback.BUFFERING, Playback.SEEKING,
     Playback.ERRORED}
)
# States in which the playhead does not move; 30 min of this closes a session (spec §4.10).
IDLE_STATES: Final = frozenset({Playback.PAUSED, Playback.BUFFERING, Playback.ERRORED})
# States in which the content playhead advances with the wall clock.
ADVANCING_STATES: Final = frozenset({Playback.PLAYING})

# (state, player event) -> (API event to send, next state). Spec §4.4 unless noted.
PLAYER_TRANSITIONS: Final[dict[tuple[Playback, PlayerEvent], tuple[EventType | None, Playback]]] = {
    # First frame after the play request: "play" (content start, unless a pre-roll is on: §4.5).
    (Playback.STARTING, PlayerEvent.PLAYING): (EventType.PLAY, Playback.PLAYING),
    (Playback.STARTING, PlayerEvent.PAUSE): (EventType.PAUSE_START, Playback.PAUSED),
    # Pause / resume.
    (Playback.PLAYING, PlayerEvent.PAUSE): (EventType.PAUSE_START, Playback.PAUSED),
    (Playback.PAUSED, PlayerEvent.PLAYING): (EventType.PLAY, Playback.PLAYING),
    # Buffering: bufferStart, and its end is the next play (no "bufferEnd" exists, §2.1).
    (Playback.PLAYING, PlayerEvent.WAITING): (EventType.BUFFER_START, Playback.BUFFERING),
    (Playback.BUFFERING, PlayerEvent.PLAYING): (EventType.PLAY, Playback.PLAYING),
    (Playback.BUFFERING, PlayerEvent.PAUSE): (EventType.PAUSE_START, Playback.PAUSED),
    # An adaptive player's own stall watch: the same buffering, whether or not the element says
    # "waiting" (the tracker ends it on the playhead's next move too, as an inferred stall).
    (Playback.PLAYING, PlayerEvent.STALL): (EventType.BUFFER_START, Playback.BUFFERING),
    (Playback.BUFFERING, PlayerEvent.STALL_END): (EventType.PLAY, Playback.PLAYING),
    # Seeking: a seek that interrupts playback is a pause ([EV26] mapping, §4.4); the play that
    # ends it is sent when the seek has settled (see SEEK_SETTLE_MS), so a scrubbing storm is
    # one pauseStart/play pair. A seek while paused sends nothing.
    (Playback.PLAYING, PlayerEvent.SEEKING): (EventType.PAUSE_START, Playback.SEEKING),
    (Playback.PAUSED, PlayerEvent.SEEKING): (None, Playback.SEEKING),
    (Playback.BUFFERING, PlayerEvent.SEEKING): (None, Playback.SEEKING),
    (Playback.STARTING, PlayerEvent.SEEKING): (None, Playback.SEEKING),
    (Playback.ERRORED, PlayerEvent.SEEKING): (None, Playback.SEEKING),
    # Recovery after an error is a play (§4.8).
    (Playback.ERRORED, PlayerEvent.PLAYING): (EventType.PLAY, Playback.PLAYING),
    (Playback.ERRORED, PlayerEvent.PAUSE): (None, Playback.PAUSED),
}

# Player events whose position is where the player is going, not where it was: the API event
# they open says where playback stopped (spec §4.2: the old position; the new one rides on the
# play that ends the seek).
DESTINATION_EVENTS: Final = frozenset({PlayerEvent.SEEKING})

# Player events that open a session from a state with none (spec §2.2 sessionStart).
SESSION_OPENING: Final = frozenset({PlayerEvent.PLAY, PlayerEvent.PLAYING})

# Scrubbing produces seeking/seeked bursts; playback counts as resumed only when no new
# seeking came for this long after a seeked (our choice; spec §4.4 says seeks need no events).
SEEK_SETTLE_MS: Final = 300

# A playing element whose playhead has not moved for this long is buffering, "waiting" event
# or not (the rule: no timeupdate progress for 1 s while not paused). Our choice.
STALL_MS: Final = 1000

# Ad and chapter nesting (spec §4.5, §4.6), as the calls allowed in each ad position.
# "break" = inside adBreakStart..adBreakComplete with no ad open; "ad" = an ad is open.
AD_CALLS_ALLOWED: Final[dict[str, frozenset[str]]] = {
    "content": frozenset({"start_ad_break"}),
    "break": frozenset({"start_ad", "complete_ad_break"}),
    "ad": frozenset({"complete_ad", "skip_ad", "start_ad", "complete_ad_break"}),
}
