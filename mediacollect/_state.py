"""The playback state machine, as tables a reader can check against the spec.

Rules of this file:

* Everything that decides a transition lives here, as data (h11's rule):

  - ``ARRIVAL_RULES`` and ``PLAYBACK_RULES``: which ``Step`` an observation takes, by player
    event, playback state and the ``Fact`` s true at that moment; the first rule that matches
    wins. ``ARRIVAL_RULES`` are read before the observation's playhead is taken (the session's
    life: opening, closing, holding), ``PLAYBACK_RULES`` after it.
  - ``PLAYER_TRANSITIONS`` (the ``TRANSITION`` step): (playback state, player event) to (API
    event or None, next state). A pair not in it is ignored: the player said something that
    does not change what the server must know (a second ``play`` while playing...).
  - ``STEP_TRANSITIONS``, ``DEADLINE_TRANSITIONS``, ``SEEK_SETTLED`` and ``RESUMED``: where the
    other steps, the deadlines, a settled seek and a renewed session leave playback.
  - ``DEADLINE_ORDER``: which of the deadlines that fall due at one moment goes first.

* ``_tracker`` looks these up and is the one writer of the state (``Tracker._enter``); it adds
  only what a table cannot say (stamping, playheads, the length of windows, validation).
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
# States with no session on the server: only a play opens one (spec §2.2 sessionStart).
NO_SESSION_STATES: Final = frozenset({Playback.IDLE, Playback.COMPLETE, Playback.CLOSED, Playback.EXPIRED})
# States whose session the viewer can still end with sessionEnd (spec §4.11, §4.13): a completed
# session is ended too, so the server need not wait for its timeout.
ENDABLE_STATES: Final = OPEN_STATES | {Playback.COMPLETE}
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
# or not: no timeupdate progress for 1 s while not paused. Our choice.
STALL_MS: Final = 1000


class Fact(StrEnum):
    """What may be true when an observation arrives, beyond the state and the event."""

    IN_AD_BREAK = "in-ad-break"  # an ad break is open: the element's position is the ad's (§4.5)
    ENDED = "ended"  # the element is at the end of its media
    ELEMENT_SEEKING = "element-seeking"  # the element is loading what a seek asked for
    LENGTH_UNKNOWN = "length-unknown"  # no media.length yet, which sessionStart needs (§3.3)
    HOLDING = "holding"  # earlier observations wait for the length: this one waits behind them
    STALL_INFERRED = "stall-inferred"  # the buffering was inferred from a playhead that stood still
    PLAYHEAD_MOVED = "playhead-moved"  # this observation moved the playhead
    ELEMENT_PAUSED = "element-paused"  # the element is paused (the viewer paused it)


class Step(StrEnum):
    """What the tracker does with an observation."""

    IGNORE = "ignore"
    HOLD = "hold"  # kept until the length is known, then observed again
    OPEN_SESSION = "open-session"  # sessionStart (a resume after an expiry), then the event itself
    END_SESSION = "end-session"  # sessionEnd: the player or the page is going away
    PAGE_CLOSED = "page-closed"  # the page sent sessionEnd itself: the next play resumes
    COMPLETE = "complete"  # the content ended: chapterComplete if one is open, sessionComplete
    PLAYER_ERROR = "player-error"  # error, with the player's code in qoeData (§4.8)
    WATCH_PROGRESS = "watch-progress"  # a timeupdate: arms the stall watch, sends nothing
    STALL_OVER = "stall-over"  # the playhead moves again after an inferred stall
    SEEK = "seek"  # inside a seek: the settle window opens or starts over
    PREROLL_FIRST_FRAME = "preroll-first-frame"  # a pre-roll's first frame: no content play (§4.5)
    NOTE_FAILURE = "note-failure"  # a player library gave up before any session: said when one opens
    PLAYER_FAILED = "player-failed"  # a player library gave up: error with its code, sessionEnd (§4.8)
    TRANSITION = "transition"  # look the pair up in PLAYER_TRANSITIONS


_ANY_EVENT: Final = frozenset(PlayerEvent)
_ANY_STATE: Final = frozenset(Playback)


class Rule:
    """Take ``step`` for one of ``events`` in one of ``states`` when every fact of ``when`` holds
    and none of ``unless`` does. (A plain class: a lazy dataclass would be generated at import, which
    costs the page's start-up; see ``_lazy``.)"""

    __slots__ = ("events", "states", "step", "unless", "when")

    def __init__(self, events: frozenset[PlayerEvent], states: frozenset[Playback], step: Step,
                 when: frozenset[Fact] = frozenset(), unless: frozenset[Fact] = frozenset()) -> None:
        self.events = events
        self.states = states
        self.step = step
        self.when = when
        self.unless = unless

    def matches(self, event: PlayerEvent, state: Playback, facts: frozenset[Fact]) -> bool:
        return (event in self.events and state in self.states and self.when <= facts
                and not self.unless & facts)

    def __repr__(self) -> str:
        return f"Rule({sorted(self.events)}, {sorted(self.states)}, {self.step}, when={sorted(self.when)}, " \
               f"unless={sorted(self.unless)})"


def _rule(events: PlayerEvent | frozenset[PlayerEvent], step: Step, *, states: frozenset[Playback] = _ANY_STATE,
          when: frozenset[Fact] = frozenset(), unless: frozenset[Fact] = frozenset()) -> Rule:
    return Rule(frozenset({events}) if isinstance(events, PlayerEvent) else events, states, step, when, unless)


def first_rule(rules: tuple[Rule, ...], event: PlayerEvent, state: Playback, facts: frozenset[Fact]) -> Rule | None:
    return next((rule for rule in rules if rule.matches(event, state, facts)), None)


_IN_AD_BREAK: Final = frozenset({Fact.IN_AD_BREAK})
_ENDED: Final = frozenset({Fact.ENDED})

# Read first, before the observation's playhead is taken; no match: PLAYBACK_RULES.
ARRIVAL_RULES: Final = (
    # A player library's fatal error ends what is open at once, held observations or not; with
    # no session, the play that opens one reports it (a held play is released: no length will
    # come from a player that stopped).
    _rule(PlayerEvent.FAILED, Step.PLAYER_FAILED, states=OPEN_STATES),
    _rule(PlayerEvent.FAILED, Step.NOTE_FAILURE),
    # Observations keep their order: none overtakes those held for the length.
    _rule(_ANY_EVENT, Step.HOLD, when=frozenset({Fact.HOLDING})),
    # The length is noted from every observation; the event itself says nothing more.
    _rule(PlayerEvent.DURATION, Step.IGNORE),
    _rule(PlayerEvent.TEARDOWN, Step.END_SESSION),
    # The page sent sessionEnd on its way out (Tracker.page_close_spec); if it comes back (from
    # the back/forward cache) the next play resumes the viewing in a new session.
    _rule(PlayerEvent.PAGE_CLOSED, Step.PAGE_CLOSED, states=ENDABLE_STATES),
    _rule(PlayerEvent.PAGE_CLOSED, Step.IGNORE),
    _rule(SESSION_OPENING, Step.HOLD, states=NO_SESSION_STATES, when=frozenset({Fact.LENGTH_UNKNOWN})),
    _rule(SESSION_OPENING, Step.OPEN_SESSION, states=NO_SESSION_STATES),
    _rule(_ANY_EVENT, Step.IGNORE, states=NO_SESSION_STATES),
)

# Read once the playhead is taken, in a state with a session; the last rule always matches.
PLAYBACK_RULES: Final = (
    # The element loads what a seek asked for: part of the seek, not buffering (§4.4).
    _rule(PlayerEvent.WAITING, Step.IGNORE, when=frozenset({Fact.ELEMENT_SEEKING})),
    # Sought to the very end: no "ended" fires while paused.
    _rule(PlayerEvent.SEEKED, Step.COMPLETE, when=_ENDED, unless=_IN_AD_BREAK),
    _rule(PlayerEvent.TIMEUPDATE, Step.STALL_OVER, states=frozenset({Playback.BUFFERING}),
          when=frozenset({Fact.STALL_INFERRED, Fact.PLAYHEAD_MOVED})),
    _rule(PlayerEvent.TIMEUPDATE, Step.WATCH_PROGRESS),
    _rule(PlayerEvent.ERROR, Step.PLAYER_ERROR),
    # A player's buffer refilled while the viewer had paused: nothing resumes.
    _rule(PlayerEvent.STALL_END, Step.IGNORE, when=frozenset({Fact.ELEMENT_PAUSED})),
    # An ad's own end is the integrator's adComplete, not the content's.
    _rule(PlayerEvent.ENDED, Step.IGNORE, when=_IN_AD_BREAK),
    _rule(PlayerEvent.ENDED, Step.COMPLETE),
    # The pause a browser fires as the content ends: sessionComplete says it all.
    _rule(PlayerEvent.PAUSE, Step.IGNORE, when=_ENDED, unless=_IN_AD_BREAK),
    # The ad's own element position is not content (§4.5).
    _rule(frozenset({PlayerEvent.SEEKING, PlayerEvent.SEEKED}), Step.IGNORE, when=_IN_AD_BREAK),
    _rule(_ANY_EVENT, Step.SEEK, states=frozenset({Playback.SEEKING})),
    _rule(PlayerEvent.PLAYING, Step.PREROLL_FIRST_FRAME, states=frozenset({Playback.STARTING}), when=_IN_AD_BREAK),
    _rule(_ANY_EVENT, Step.TRANSITION),
)

# Where the steps with one outcome leave playback: (API event or None, next state). COMPLETE may
# send chapterComplete before; OPEN_SESSION goes to STARTING, then the event is observed again.
STEP_TRANSITIONS: Final[dict[Step, tuple[EventType | None, Playback]]] = {
    Step.OPEN_SESSION: (EventType.SESSION_START, Playback.STARTING),
    Step.END_SESSION: (EventType.SESSION_END, Playback.CLOSED),
    Step.PAGE_CLOSED: (None, Playback.EXPIRED),
    Step.COMPLETE: (EventType.SESSION_COMPLETE, Playback.COMPLETE),
    Step.PLAYER_ERROR: (EventType.ERROR, Playback.ERRORED),  # recovery is a play (§4.8)
    Step.STALL_OVER: (EventType.PLAY, Playback.PLAYING),
    Step.PREROLL_FIRST_FRAME: (None, Playback.PLAYING),
    # The error event with the library's code goes first, then this sessionEnd: nothing stays
    # open on the server, and the next play (the page recovered the player) resumes the viewing.
    Step.PLAYER_FAILED: (EventType.SESSION_END, Playback.EXPIRED),
}

# Player events whose buffering ends when the playhead moves again, "playing" or not: an adaptive
# player's stall is its own watch, like the tracker's inferred stall (STALL_OVER).
MOVE_ENDS_BUFFERING: Final = frozenset({PlayerEvent.STALL})


class Deadline(StrEnum):
    """What falls due with time rather than with an observation."""

    SETTLE = "settle"  # a seek settled (SEEK_SETTLE_MS after the last seeked)
    STALL = "stall"  # playing content whose playhead stood still for STALL_MS
    IDLE = "idle"  # paused/stalled/errored for TrackerConfig.idle_timeout (§4.10)
    RENEW = "renew"  # the session reached TrackerConfig.max_session_duration (§4.10: 24 h)
    PING = "ping"  # the ping grid (§4.3)


# At one moment, the first listed goes first (a session that expires or is renewed needs no ping).
DEADLINE_ORDER: Final = (Deadline.SETTLE, Deadline.STALL, Deadline.IDLE, Deadline.RENEW, Deadline.PING)

DEADLINE_TRANSITIONS: Final[dict[Deadline, tuple[EventType | None, Playback]]] = {
    # Playing, yet no progress: the element is starved without saying "waiting" (browsers often
    # do not). Buffering until the playhead moves again (STALL_OVER).
    Deadline.STALL: (EventType.BUFFER_START, Playback.BUFFERING),
    # The server closes a session whose playhead stood still for 30 min (§4.10); we close it
    # ourselves and resume on the next play (§4.12).
    Deadline.IDLE: (EventType.SESSION_END, Playback.EXPIRED),
    # A session must not outlive 24 h: sessionEnd, then a resumed session (RESUMED).
    Deadline.RENEW: (EventType.SESSION_END, Playback.STARTING),
}

# The states a seek can begin in (PLAYER_TRANSITIONS into SEEKING).
SEEK_ORIGINS: Final = frozenset(state for (state, _), (_, after) in PLAYER_TRANSITIONS.items()
                                if after is Playback.SEEKING)
# Where a settled seek leaves playback, by (element paused, state the seek began in): playing
# again is the play the seek's pauseStart waited for; paused stays quiet, and a seek before the
# first frame is still waiting for it.
SEEK_SETTLED: Final[dict[tuple[bool, Playback], tuple[EventType | None, Playback]]] = {
    **{(False, origin): (EventType.PLAY, Playback.PLAYING) for origin in SEEK_ORIGINS},
    **{(True, origin): (None, Playback.PAUSED) for origin in SEEK_ORIGINS},
    (True, Playback.STARTING): (None, Playback.STARTING),
}

# A renewed or resumed session (spec §4.10, §4.17) says how playback is, by "was it playing".
RESUMED: Final[dict[bool, tuple[EventType, Playback]]] = {
    True: (EventType.PLAY, Playback.PLAYING),
    False: (EventType.PAUSE_START, Playback.PAUSED),
}


def playing_at_renewal(state: Playback, paused: bool) -> bool:
    """Whether a renewed session goes on playing: playing, or seeking with the element not paused."""
    return state is Playback.PLAYING or (state is Playback.SEEKING and not paused)


class AdPosition(StrEnum):
    CONTENT = "content"
    BREAK = "break"  # inside adBreakStart..adBreakComplete with no ad open
    AD = "ad"  # an ad is open


# Ad and chapter nesting (spec §4.5, §4.6), as the calls allowed in each ad position.
AD_CALLS_ALLOWED: Final[dict[AdPosition, frozenset[str]]] = {
    AdPosition.CONTENT: frozenset({"start_ad_break"}),
    AdPosition.BREAK: frozenset({"start_ad", "complete_ad_break"}),
    AdPosition.AD: frozenset({"complete_ad", "skip_ad", "start_ad", "complete_ad_break"}),
}
