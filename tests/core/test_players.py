"""What adaptive players report (players.js ``player`` records) and what the tracker makes of it:
rendition switches, the player's own stalls, fatal errors with the library's code, the live
stream's clock. Records are made as the shim stamps them; t in seconds from T0."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacollect import ApiEvent, MediaConfig, Tracker, to_body
from mediacollect._inputs import PlayerReportKind, player_report
from mediacollect._player import Player
from mediacollect._state import Playback
from tests.core.harness import CONFIG, T0, RecordingDriver

DAY_MS = 86_400_000
# A stream clock whose position 0 is 01:00:00 UTC on T0's day: its playheads (3600 s and a bit)
# are far from both the wall clock's second of the day (T0 is at about 22:13) and raw positions.
ORIGIN = T0 - T0 % DAY_MS + 3_600_000


class Viewing:
    """A Player fed shim records, with the duration the element would report."""

    def __init__(self, media: MediaConfig | None = None, duration: float | str | None = 40.0) -> None:
        self.driver = RecordingDriver(Tracker(CONFIG, media or MediaConfig(id="stream")))
        self.player = Player(self.driver, player_name="hls.js", content_src="/streams/vod/master.m3u8")
        self.duration = duration

    def element(self, t: float, kind: str, playhead: float = 0.0, **extra: Any) -> None:
        self.player.handle({"type": kind, "ts": T0 + round(t * 1000), "playhead": playhead,
                            "duration": self.duration, "paused": kind == "pause", **extra})

    def report(self, t: float, what: str, playhead: float = 0.0, paused: bool = False, **facts: Any) -> None:
        self.player.handle({"type": "player", "report": what, "facts": {"library": "hls.js", **facts},
                            "ts": T0 + round(t * 1000), "playhead": playhead, "duration": self.duration,
                            "paused": paused})

    @property
    def events(self) -> list[ApiEvent]:
        return [e for e in self.driver.events if e.type.value != "ping"]

    def types(self) -> list[str]:
        return [e.type.value for e in self.events]

    def playing(self, t: float = 0.0, playhead: float = 0.0) -> None:
        self.element(t, "play", playhead)
        self.element(t + 0.1, "playing", playhead)


def qoe(event: ApiEvent) -> dict[str, Any]:
    return to_body(event).get("qoeData", {})  # type: ignore[no-any-return]


def test_the_rendition_before_play_rides_on_sessionstart_and_each_switch_is_one_bitrate_change() -> None:
    v = Viewing()
    v.report(0, "rendition", bandwidth=349_092, width=320, height=180)
    v.playing(0.5)
    v.report(2, "rendition", 2, bandwidth=2_294_097, fps=24)
    v.report(2.5, "rendition", 2.5, bandwidth=2_294_097, fps=24)  # the same rendition again: no switch
    assert v.types() == ["sessionStart", "play", "bitrateChange"]
    assert qoe(v.events[0])["media.qoe.bitrate"] == 349_092
    change = v.events[2]
    assert qoe(change)["media.qoe.bitrate"] == 2_294_097 and qoe(change)["media.qoe.framesPerSecond"] == 24
    assert change.ts == T0 + 2000


def test_dropped_frames_the_player_counts_are_qoe() -> None:
    v = Viewing()
    v.playing()
    v.report(3, "frames", 3, dropped=7)
    v.report(4, "rendition", 4, bandwidth=800_000)
    assert qoe(v.events[-1])["media.qoe.droppedFrames"] == 7


def test_a_stall_the_player_sees_is_buffering_until_the_playhead_moves_or_it_says_so() -> None:
    v = Viewing()
    v.playing()
    v.element(1.0, "timeupdate", 0.9)
    v.report(1.2, "stall", 1.0)
    v.report(1.3, "stall", 1.0)  # said again: still the one stall
    v.element(1.6, "timeupdate", 1.0)
    v.element(2.5, "timeupdate", 1.4)  # playing again, with no "playing" from the element
    assert v.types() == ["sessionStart", "play", "bufferStart", "play"]
    assert [e.ts - T0 for e in v.events[2:]] == [1200, 2500]
    v.report(3.0, "stall", 1.9)
    v.report(3.5, "stall-end", 1.9)
    assert v.types()[4:] == ["bufferStart", "play"]
    v.report(4.0, "stall", 2.4)
    v.element(4.1, "pause", 2.4)
    v.report(4.5, "stall-end", 2.4, paused=True)  # refilled while paused: nothing resumes
    assert v.types()[6:] == ["bufferStart", "pauseStart"]


def test_a_fatal_error_is_an_error_with_the_library_code_then_sessionend_and_a_play_resumes() -> None:
    v = Viewing()
    v.playing()
    v.report(5, "error", 5, code="fragLoadError", kind="networkError", fatal=True, message="HTTP 500")
    assert v.types() == ["sessionStart", "play", "error", "sessionEnd"]
    assert qoe(v.events[2]) == {"media.qoe.errorID": "hls.js:fragLoadError", "media.qoe.errorSource": "player"}
    assert v.driver.tracker.state is Playback.EXPIRED and v.driver.tracker.next_deadline is None  # no pings
    assert "player failed (hls.js:fragLoadError): HTTP 500" in v.driver.tracker.warnings
    v.playing(9, 5)  # the page recovered the player
    assert v.types()[4:] == ["sessionStart", "play"]
    assert to_body(v.events[4])["params"]["media.resume"] is True


def test_a_non_fatal_error_is_reported_and_the_session_goes_on() -> None:
    v = Viewing()
    v.playing()
    v.report(2, "error", 2, code="3", fatal=False)
    assert v.types() == ["sessionStart", "play", "error"]
    assert v.driver.tracker.state is Playback.PLAYING


def test_a_manifest_that_failed_before_play_is_reported_when_the_viewer_presses_play() -> None:
    """The length never comes: the session that carries the error opens without it."""
    v = Viewing(duration=None)
    v.report(0.2, "error", code="manifestLoadError", fatal=True)
    assert v.types() == []
    v.element(3, "play")
    assert v.types() == ["sessionStart", "error", "sessionEnd"]
    assert to_body(v.events[0])["params"]["media.length"] == 86400  # unknown length (spec §3.3)
    assert qoe(v.events[1])["media.qoe.errorID"] == "hls.js:manifestLoadError"
    assert v.driver.tracker.next_deadline is None


def test_a_play_waiting_for_the_length_when_the_player_fails_opens_the_session_to_report_it() -> None:
    v = Viewing(duration=None)
    v.element(0, "play")
    assert v.types() == []  # held: sessionStart needs the length
    v.report(1, "error", code="11", fatal=True)
    assert v.types() == ["sessionStart", "error", "sessionEnd"]
    assert v.events[0].ts == T0 and qoe(v.events[1])["media.qoe.errorID"] == "hls.js:11"


def test_a_new_source_after_a_failure_before_play_is_a_fresh_start() -> None:
    v = Viewing(duration=None)
    v.report(0.2, "error", code="manifestLoadError", fatal=True)
    v.duration = 40.0
    v.element(1, "durationchange")  # the page loaded another stream, which works
    v.playing(2)
    assert v.types() == ["sessionStart", "play"]


def test_live_playheads_are_the_stream_position_as_second_of_day_and_a_jump_to_the_edge_is_a_seek() -> None:
    v = Viewing(duration="Infinity")
    v.report(0, "stream", live=True, origin=ORIGIN)
    v.playing(1, 10.0)
    start = to_body(v.events[0])
    assert start["params"]["media.contentType"] == "live" and start["params"]["media.length"] == 86400
    assert v.events[0].playhead == 3610.0
    v.element(2, "seeking", 4.0)  # back into the window
    v.element(2.1, "seeked", 4.0)
    v.element(3, "timeupdate", 4.9)
    v.element(3.5, "timeupdate", 5.4)
    v.element(4, "seeking", 20.0)  # and the jump to the live edge
    v.element(4.1, "seeked", 20.0)
    v.element(5, "timeupdate", 20.9)
    assert v.types() == ["sessionStart", "play", "pauseStart", "play", "pauseStart", "play"]
    assert [e.playhead for e in v.events[2:]] == pytest.approx([3610.9, 3604.0, 3605.9, 3620.0], abs=0.001)


def test_a_stream_the_player_calls_live_stays_live_whatever_length_the_element_reports() -> None:
    v = Viewing(duration=18.0)  # the sliding window's length, as some players set it
    v.report(0, "stream", live=True)
    v.playing(1, 10.0)
    v.element(2, "durationchange", 10.5)
    v.element(3, "pause", 11.5)
    start = to_body(v.events[0])["params"]
    assert (start["media.contentType"], start["media.length"]) == ("live", 86400)
    assert v.events[-1].playhead == pytest.approx(((T0 + 3000) % DAY_MS) / 1000)


def test_without_a_stream_clock_live_playheads_are_the_wall_clock_second_of_day() -> None:
    v = Viewing(duration="Infinity")
    v.playing(1, 10.0)
    v.element(2, "seeking", 4.0)
    v.element(2.1, "seeked", 4.0)
    v.element(3, "timeupdate", 4.9)
    assert v.types() == ["sessionStart", "play", "pauseStart", "play"]
    for event in v.events:
        assert event.playhead == pytest.approx((event.ts % DAY_MS) / 1000, abs=0.01)


# Live playheads, whatever the player does: the stream position's second of the day when the
# clock is known, else the wall clock's; never a raw element position (the family of a seek's
# landing point or a stall's position leaking through as the playhead).
STEPS = st.lists(st.tuples(st.sampled_from(["play", "playing", "pause", "waiting", "seeking", "seeked",
                                            "timeupdate", "stall", "stall-end", "rendition"]),
                           st.floats(0.01, 3.0), st.floats(0.0, 100.0)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, clock=st.booleans())
def test_live_playheads_are_never_raw_positions(steps: list[tuple[str, float, float]], clock: bool) -> None:
    v = Viewing(duration="Infinity")
    if clock:
        v.report(0, "stream", live=True, origin=ORIGIN)
    t = 0.0
    for kind, dt, position in steps:
        t += dt
        if kind in ("stall", "stall-end", "rendition"):
            v.report(t, kind, position, bandwidth=int(position * 10_000) + 1)
        else:
            v.element(t, kind, position, seeking=kind == "seeking")
    for event in v.driver.events:
        if clock:  # positions 0..100 s, and at most the time played since on top
            assert 3600 <= event.playhead <= 3600 + 100 + t + 1, event
        else:
            assert math.isclose(event.playhead, (event.ts % DAY_MS) / 1000, abs_tol=0.05), event


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(facts=st.dictionaries(st.sampled_from(["library", "bandwidth", "fps", "dropped", "live", "origin", "code",
                                              "fatal", "message", "width"]),
                             st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60), st.text(max_size=400),
                                       st.floats(allow_nan=True, allow_infinity=True),
                                       st.lists(st.integers(), max_size=3))),
       kind=st.sampled_from([k.value for k in PlayerReportKind] + ["nonsense"]))
def test_any_facts_are_read_safely_and_bounded(facts: dict[str, Any], kind: str) -> None:
    record = {"type": "player", "report": kind, "facts": facts, "ts": T0, "playhead": 1.0, "duration": 40.0}
    report = player_report(record)
    if kind == "nonsense":
        assert report is None
        return
    assert report is not None
    assert report.bandwidth is None or (type(report.bandwidth) is int and 0 <= report.bandwidth < 2**53)
    assert report.dropped is None or (type(report.dropped) is int and report.dropped >= 0)
    assert report.fps is None or 0 < report.fps <= 240
    assert report.origin is None or type(report.origin) is int
    assert len(report.library) <= 40
    assert report.error_id is None or len(report.error_id) <= 141
    Viewing().player.handle(record)  # and a player takes it without raising
