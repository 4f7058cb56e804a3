"""Tracker behaviour beyond the documented timelines: one rule per test, through the public API."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mediacollect import (
    AdBreakInfo,
    AdInfo,
    ChapterInfo,
    EventType,
    MediaConfig,
    Observation,
    Playback,
    PlayerEvent,
    Tracker,
    UsageError,
    ValidationError,
    to_body,
    validate_body,
)
from tests.core.harness import CONFIG, MEDIA, Run, ms, seconds

P = PlayerEvent
E = EventType


def started(run: Run | None = None) -> Run:
    run = run or Run.new()
    run.player(0, P.PLAY, 0)
    run.player(0.2, P.PLAYING, 0)
    return run


def types(run: Run) -> list[str]:
    """Event types in order, pings left out (their cadence has tests of its own)."""
    return [e.type.value for e in run.events if e.type is not E.PING]


def test_first_play_carries_time_to_start() -> None:
    run = started()
    assert types(run) == ["sessionStart", "play"]
    assert to_body(run.events[1])["qoeData"] == {"media.qoe.timeToStart": 200}


def test_pause_and_resume() -> None:
    run = started()
    run.player(5, P.PAUSE, 4.8)
    run.player(7, P.PLAY, 4.8)  # the request to play is not yet playback
    run.player(7.1, P.PLAYING, 4.8)
    assert types(run)[2:] == ["pauseStart", "play"]
    assert run.events[2].playhead == 4.8 and run.events[3].playhead == 4.8


def test_buffering_then_play_and_pause_while_buffering() -> None:
    run = started()
    run.player(3, P.WAITING, 2.8)
    run.player(4, P.PAUSE, 2.8)
    run.player(6, P.PLAYING, 2.8)
    assert types(run)[2:] == ["bufferStart", "pauseStart", "play"]


def playing_with_timeupdates(run: Run, start: float, end: float, playhead: float, step: float = 0.25) -> float:
    """Timeupdates every ``step`` s from ``start`` to ``end``, the playhead moving 1:1."""
    t = start
    while t <= end + 1e-9:
        run.player(t, P.TIMEUPDATE, playhead + (t - start))
        t = round(t + step, 3)
    return playhead + (end - start)


def test_a_playhead_that_stops_moving_while_playing_is_buffering() -> None:
    run = started()
    playhead = playing_with_timeupdates(run, 0.25, 3.0, 0.05)
    run.player(3.25, P.TIMEUPDATE, playhead)  # the same position: starved, no "waiting" event
    run.player(3.5, P.TIMEUPDATE, playhead)
    run.advance(4.1)
    assert types(run)[2:] == ["bufferStart"]
    assert seconds(run.events[-1]) == 4.0  # 1 s (STALL_MS) after the last progress at 3.0
    assert run.events[-1].playhead == pytest.approx(playhead)
    run.advance(6.0)
    assert types(run)[2:] == ["bufferStart"]  # once
    run.player(6.25, P.TIMEUPDATE, playhead + 0.25)  # moving again
    assert types(run)[2:] == ["bufferStart", "play"]
    playing_with_timeupdates(run, 6.5, 8.0, playhead + 0.5)
    assert types(run)[2:] == ["bufferStart", "play"]


def test_no_stall_is_inferred_while_paused_in_an_ad_or_without_timeupdates() -> None:
    run = started()
    run.advance(5.0)  # no timeupdate ever: nothing inferred (an integrator feeding events by hand)
    playhead = playing_with_timeupdates(run, 5.25, 6.0, 5.0)
    run.player(6.2, P.PAUSE, playhead)
    run.advance(9.0)
    run.player(9.0, P.PLAY, playhead)
    run.player(9.1, P.PLAYING, playhead)
    run.advance(9.9)  # 0.8 s after playing resumed: not yet a stall, though the last move was at 6.0
    run.call(9.9, run.tracker.start_ad_break, AdBreakInfo(1, 6.0))
    run.advance(14.0)  # an ad plays: its element time is not content progress
    run.call(14.0, run.tracker.complete_ad_break)
    run.advance(14.9)
    assert types(run)[2:] == ["pauseStart", "play", "adBreakStart", "adBreakComplete"]
    run.advance(15.1)
    assert types(run)[-1] == "bufferStart"  # 1 s after the content came back without moving


def test_the_frame_rate_is_measured_from_frames_decoded_per_second_played() -> None:
    run = started()
    for i in range(1, 13):  # 3 s at 25 fps, a timeupdate every 0.25 s
        run.player(0.2 + i * 0.25, P.TIMEUPDATE, i * 0.25, total_frames=round(i * 0.25 * 25))
    run.player(3.5, P.PAUSE, 3.0)
    run.player(4.0, P.PLAY, 3.0)
    run.player(4.1, P.PLAYING, 3.0)
    resumed = run.events[-1]
    assert resumed.type is E.PLAY and resumed.qoe is not None and resumed.qoe.frames_per_second == 25
    # A seek (frames keep counting, the playhead jumps) does not make up a frame rate.
    run.player(4.3, P.TIMEUPDATE, 3.2, total_frames=80)
    run.player(4.5, P.TIMEUPDATE, 20.0, total_frames=85)
    run.player(4.7, P.TIMEUPDATE, 20.2, total_frames=90)
    assert run.tracker._qoe.frames_per_second == 25


def test_a_real_waiting_is_not_counted_twice() -> None:
    run = started()
    playhead = playing_with_timeupdates(run, 0.25, 2.0, 0.05)
    run.player(2.1, P.WAITING, playhead)
    run.advance(5.0)
    run.player(5.0, P.PLAYING, playhead)
    playing_with_timeupdates(run, 5.25, 6.0, playhead + 0.25)
    assert types(run)[2:] == ["bufferStart", "play"]


def test_a_scrubbing_storm_is_one_pause_and_one_play() -> None:
    run = started()
    t = 5.0
    for i in range(20):  # 20 seeks in 2 s
        run.player(t, P.SEEKING, 4.8 + i)
        run.player(t + 0.05, P.SEEKED, 4.8 + i)
        run.player(t + 0.06, P.PLAYING, 4.8 + i)
        t += 0.1
    run.advance(t + 1)
    assert types(run)[2:] == ["pauseStart", "play"]
    play = run.events[-1]
    assert play.playhead == pytest.approx(23.8) and seconds(play) == pytest.approx(t - 0.1 + 0.05)
    assert run.tracker.state is Playback.PLAYING


def test_a_seek_while_paused_sends_nothing_and_play_carries_the_new_position() -> None:
    run = started()
    run.player(5, P.PAUSE, 4.8)
    run.player(6, P.SEEKING, 12, paused=True)
    run.player(6.1, P.SEEKED, 12, paused=True)
    run.advance(8)
    run.player(9, P.PLAYING, 12)
    assert types(run)[2:] == ["pauseStart", "play"]
    assert run.events[-1].playhead == 12


def test_seeking_out_of_a_chapter_skips_it() -> None:
    run = started()
    run.call(1, run.tracker.start_chapter, ChapterInfo(1, 0, 10, "Intro"))
    run.player(3, P.SEEKING, 20)
    run.player(3.1, P.SEEKED, 20)
    run.advance(4)
    assert types(run)[2:] == ["chapterStart", "pauseStart", "chapterSkip", "play"]


def test_opening_a_chapter_closes_the_open_one() -> None:
    run = started()
    run.call(1, run.tracker.start_chapter, ChapterInfo(1, 0, 10))
    run.call(10.5, run.tracker.start_chapter, ChapterInfo(2, 10, 10), playhead=10.3)
    run.call(12, run.tracker.start_chapter, ChapterInfo(3, 20, 10), playhead=11.8)
    assert types(run)[2:] == ["chapterStart", "chapterComplete", "chapterStart", "chapterSkip", "chapterStart"]


def test_ended_completes_the_open_chapter_then_the_session() -> None:
    run = started()
    run.call(1, run.tracker.start_chapter, ChapterInfo(1, 0, 30))
    run.player(30, P.PAUSE, 30, ended=True)  # browsers pause just before "ended"
    run.player(30, P.ENDED, 30, ended=True)
    assert types(run)[2:] == ["chapterStart", "chapterComplete", "sessionComplete"]
    assert run.tracker.next_deadline is None
    # Playing again is a new viewing: a new session.
    run.player(40, P.PLAY, 0)
    assert run.events[-1].type is E.SESSION_START and run.events[-1].session == 2


def test_teardown_ends_the_session_once() -> None:
    run = started()
    run.player(3, P.TEARDOWN, 2.8)
    run.player(3.5, P.TEARDOWN, 2.8)
    assert types(run)[2:] == ["sessionEnd"]
    assert run.tracker.tick(ms(100)) == []


def test_player_error_then_recovery() -> None:
    run = started()
    run.player(5, P.ERROR, 4.8, error_code=2, error_message="network")
    run.player(8, P.PLAYING, 4.8)
    assert types(run)[2:] == ["error", "play"]
    assert to_body(run.events[2])["qoeData"] == {"media.qoe.errorID": "MEDIA_ERR_2", "media.qoe.errorSource": "player"}
    assert run.tracker.warnings == ["player error 2: network"]


def test_pings_every_10_s_on_a_grid_and_one_ping_after_a_late_wake_up() -> None:
    run = started()
    run.advance(21)
    assert [seconds(e) for e in run.events if e.type is E.PING] == [10, 20]
    # A throttled tab wakes at 57 s: one ping, on the last grid point it missed, never a burst.
    pings = run.tracker.tick(ms(57))
    assert [(e.type, seconds(e)) for e in pings] == [(E.PING, 50)]
    assert pings[0].playhead == pytest.approx(49.8)
    assert run.tracker.next_deadline == ms(60)


def test_pings_keep_the_session_alive_while_paused_with_a_frozen_playhead() -> None:
    run = started()
    run.player(12, P.PAUSE, 11.8)
    run.advance(41)
    assert [e.playhead for e in run.events if e.type is E.PING] == [pytest.approx(9.8), 11.8, 11.8, 11.8]


def test_a_long_pause_ends_the_session_and_the_next_play_resumes_it() -> None:
    run = Run.new(replace(CONFIG, idle_timeout=60.0))
    started(run)
    run.player(5, P.PAUSE, 4.8)
    run.call(6, run.tracker.start_state, "fullScreen")
    run.advance(70)
    assert run.events[-1].type is E.SESSION_END and seconds(run.events[-1]) == 65
    assert run.tracker.state is Playback.EXPIRED and run.tracker.next_deadline is None
    out = run.player(80, P.PLAY, 4.8)
    assert [(e.type, e.state_name) for e in out] == [(E.SESSION_START, None), (E.STATE_START, "fullScreen")]
    resumed = out[0]
    assert resumed.session == 2
    assert to_body(resumed)["params"]["media.resume"] is True
    assert resumed.playhead == 4.8


def test_renewal_after_the_server_lost_the_session_re_sends_the_context() -> None:
    run = started()
    run.call(1, run.tracker.start_chapter, ChapterInfo(1, 0, 20, "One"))
    run.call(2, run.tracker.start_state, "mute")
    out = run.call(5, run.tracker.renew)
    assert [e.type.value for e in out] == ["sessionStart", "chapterStart", "stateStart", "play"]
    assert all(e.session == 2 for e in out)
    assert to_body(out[0])["params"]["media.resume"] is True
    assert out[0].playhead == pytest.approx(4.8)


def test_sessions_are_renewed_before_24_hours() -> None:
    run = Run.new(replace(CONFIG, max_session_duration=120.0))
    started(run)
    run.advance(125)
    renewal = [e for e in run.events if seconds(e) == pytest.approx(120, abs=0.01)]
    assert [e.type.value for e in renewal] == ["sessionEnd", "sessionStart", "play"]
    assert renewal[1].session == 2


def test_ad_calls_out_of_order_raise_and_change_nothing() -> None:
    run = started()
    with pytest.raises(UsageError, match="start_ad: not allowed outside an ad break"):
        run.tracker.start_ad(AdInfo("a", 10, 1, "p"), ms(1))
    with pytest.raises(UsageError, match="complete_ad_break"):
        run.tracker.complete_ad_break(ms(1))
    run.call(1, run.tracker.start_ad_break, AdBreakInfo(1))
    with pytest.raises(UsageError, match="complete_ad: not allowed in an ad break with no ad open"):
        run.tracker.complete_ad(ms(2))
    with pytest.raises(UsageError, match="start_chapter"):
        run.tracker.start_chapter(ChapterInfo(1, 0, 10), ms(2))
    assert types(run)[2:] == ["adBreakStart"]


def test_integrator_values_are_validated_before_anything_changes() -> None:
    run = started()
    run.call(1, run.tracker.start_ad_break, AdBreakInfo(1))
    with pytest.raises(ValidationError, match="adStart: params.media.ad.id must not be empty"):
        run.tracker.start_ad(AdInfo("", 10, 1, "p"), ms(2))
    with pytest.raises(ValidationError, match="key must match"):
        run.tracker.start_ad(AdInfo("a", 10, 1, "p", custom_metadata={"bad key": "x"}), ms(2))
    assert not run.tracker._ad  # still no ad open


def test_no_session_no_integrator_calls() -> None:
    with pytest.raises(UsageError, match="no session is open"):
        Run.new().tracker.start_state("mute", ms(0))


def test_in_an_ad_the_element_position_is_not_content() -> None:
    run = started()
    run.call(10, run.tracker.start_ad_break, AdBreakInfo(1), playhead=9.8)
    run.call(10, run.tracker.start_ad, AdInfo("a", 5, 1, "p"))
    run.player(11, P.SEEKING, 1.0)
    run.player(11.1, P.SEEKED, 1.0)
    run.player(12, P.PAUSE, 2.0)
    run.player(13, P.PLAYING, 2.0)
    run.player(15, P.ENDED, 5.0, ended=True)  # the ad clip ended, not the content
    events = run.events[2:]
    assert [e.type.value for e in events if e.type is not E.PING] == [
        "adBreakStart", "adStart", "pauseStart", "play"]
    assert all(e.playhead == pytest.approx(9.8) for e in events)
    opening = next(e for e in events if e.type is E.AD_BREAK_START)
    assert to_body(opening)["params"]["media.ad.podSecond"] == pytest.approx(9.8)


def test_back_to_back_ads_close_the_previous_ad() -> None:
    run = started()
    run.call(1, run.tracker.start_ad_break, AdBreakInfo(1))
    run.call(1, run.tracker.start_ad, AdInfo("a", 5, 1, "p"))
    run.call(6, run.tracker.start_ad, AdInfo("b", 5, 2, "p"))
    run.call(11, run.tracker.complete_ad_break)
    assert [e.type.value for e in run.events[2:] if e.type is not E.PING] == [
        "adBreakStart", "adStart", "adComplete", "adStart", "adComplete", "adBreakComplete"]


def test_at_most_ten_distinct_states_per_session() -> None:
    run = started()
    for i in range(12):
        run.call(1 + i, run.tracker.start_state, f"custom{i}")
    assert len([e for e in run.events if e.type is E.STATE_START]) == 10
    assert run.tracker.warnings[-1].startswith("state 'custom11' dropped")
    run.call(20, run.tracker.start_state, "custom0")  # already active: nothing
    run.call(21, run.tracker.end_state, "custom0")
    run.call(22, run.tracker.start_state, "custom0")  # seen before: allowed again
    assert [e.type for e in run.events[-2:]] == [E.STATE_END, E.STATE_START]


def test_a_bitrate_change_is_reported_once() -> None:
    run = started()
    run.call(2, run.tracker.update_qoe, bitrate=2_000_000, frames_per_second=29.97, dropped_frames=3)
    run.call(3, run.tracker.update_qoe, bitrate=2_000_000, dropped_frames=4)
    assert types(run)[2:] == ["bitrateChange"]
    assert to_body(run.events[2])["qoeData"] == {
        "media.qoe.bitrate": 2_000_000, "media.qoe.framesPerSecond": 30, "media.qoe.droppedFrames": 3}


def test_an_unknown_length_holds_the_session_start_until_the_element_knows_it() -> None:
    run = Run.new(media=MediaConfig(id="clip"))
    assert run.player(0.5, P.PLAY, 0, duration=None) == []
    assert run.player(0.6, P.PLAYING, 0, duration=None) == []
    out = run.player(0.9, P.DURATION, 0, duration=42.0)
    assert [e.type for e in out] == [E.SESSION_START, E.PLAY]
    assert out[0].ts == ms(0.5) and to_body(out[0])["params"]["media.length"] == 42


def test_ts_strictly_increases_even_when_events_share_a_millisecond() -> None:
    run = started()
    run.call(1, run.tracker.start_state, "mute")
    run.call(1, run.tracker.start_state, "fullScreen")
    run.call(1, run.tracker.end_state, "mute")
    ts = [e.ts for e in run.events]
    assert ts[2:] == [ms(1), ms(1) + 1, ms(1) + 2]


def test_every_emitted_body_is_valid() -> None:
    run = started()
    run.call(1, run.tracker.report_error, "ad-server-timeout")
    for body in run.bodies():
        assert validate_body(body) == []
    assert to_body(run.events[-1])["qoeData"]["media.qoe.errorSource"] == "external"


def test_the_tracker_never_sends_a_ping_with_params() -> None:
    run = started()
    run.advance(11)
    assert "params" not in to_body(run.events[-1])
    assert MEDIA.length and Observation(P.PLAY, 0, 0).paused is False


def test_qoe_known_before_the_play_rides_on_session_start() -> None:
    run = Run.new()
    run.tracker.update_qoe(ms(0), bitrate=800_000)
    run.player(0, P.PLAY, 0)
    assert to_body(run.events[0])["qoeData"] == {"media.qoe.bitrate": 800_000}


def test_element_states_follow_the_element_and_leave_integrator_states_alone() -> None:
    run = Run.new()
    muted = frozenset({"mute"})
    out = run.player(0, P.PLAY, 0, states=muted)
    assert [(e.type.value, e.state_name) for e in out] == [("sessionStart", None), ("stateStart", "mute")]
    run.call(1, run.tracker.start_state, "inFocus")  # the integrator's own
    run.player(2, P.PLAYING, 0, states=muted)  # nothing changed
    run.player(3, P.STATE, 1, states=frozenset({"fullScreen"}))
    run.player(4, P.STATE, 2, states=frozenset())
    run.player(5, P.STATE, 3, states=None)  # an observer that cannot tell changes nothing
    states = [(e.type.value, e.state_name, seconds(e)) for e in run.events if e.state_name]
    assert states == [("stateStart", "mute", 0.001), ("stateStart", "inFocus", 1.0), ("stateEnd", "mute", 3.0),
                      ("stateStart", "fullScreen", 3.001), ("stateEnd", "fullScreen", 4.0)]
    assert run.tracker.active_states == ("inFocus",)


def test_element_states_are_re_sent_in_a_new_session_after_completion() -> None:
    run = Run.new()
    run.player(0, P.PLAY, 0, states=frozenset({"mute"}))
    run.player(0.1, P.PLAYING, 0, states=frozenset({"mute"}))
    run.player(30, P.ENDED, 30, ended=True, states=frozenset({"mute"}))
    out = run.player(40, P.PLAY, 0, states=frozenset({"mute"}))
    assert [(e.type.value, e.state_name, e.session) for e in out] == [
        ("sessionStart", None, 2), ("stateStart", "mute", 2)]


def test_dropped_frames_ride_on_the_next_play() -> None:
    run = started()
    run.player(3, P.PAUSE, 2.8, dropped_frames=7)
    run.player(4, P.PLAYING, 2.8)
    assert to_body(run.events[-1])["qoeData"] == {"media.qoe.droppedFrames": 7}


def test_a_page_that_ended_the_session_itself_resumes_on_return() -> None:
    run = started()
    spec = run.tracker.page_close_spec()
    assert spec is not None and spec.frozen is None
    run.call(5, run.tracker.start_ad_break, AdBreakInfo(1), playhead=4.8)
    spec = run.tracker.page_close_spec()
    assert spec is not None and spec.frozen == pytest.approx(4.8)
    # The body the page sends is prepared here: the page fills in only ts and the playhead.
    filled = json.loads(spec.body.replace('"@ts"', str(ms(6))).replace('"@playhead"', "4.8"))
    assert filled == {"playerTime": {"playhead": 4.8, "ts": ms(6)}, "eventType": "sessionEnd"}
    assert validate_body(filled) == []
    assert run.player(6, P.PAGE_CLOSED, 1.0) == []  # the shim sent sessionEnd
    assert run.tracker.page_close_spec() is None and run.tracker.next_deadline is None
    out = run.player(60, P.PLAY, 4.8)  # back from the back/forward cache
    assert out[0].type is E.SESSION_START and to_body(out[0])["params"]["media.resume"] is True
    assert Run.new().tracker.page_close_spec() is None


def test_a_seek_settles_by_the_observations_clock_when_tick_comes_late() -> None:
    run = started()
    tracker = run.tracker
    for event, ts, paused in ((P.SEEKING, 5.0, False), (P.SEEKED, 5.1, False), (P.PLAYING, 5.11, False),
                              (P.PAUSE, 6.0, True), (P.PLAY, 7.0, False), (P.PLAYING, 7.01, False)):
        run.events += tracker.observe(Observation(event, ms(ts), 2.0, paused=paused))  # no tick in between
    assert types(run)[2:] == ["pauseStart", "play", "pauseStart", "play"]


def test_a_reloaded_page_resumes_its_first_session() -> None:
    run = Run(Tracker(CONFIG, MEDIA, resume=True))
    first = run.player(0, P.PLAY, 12.0)[0]
    assert to_body(first)["params"]["media.resume"] is True and first.playhead == 12.0
    run.player(60, P.ENDED, 60, ended=True)
    assert "media.resume" not in to_body(run.player(70, P.PLAY, 0)[0])["params"]


def test_a_seek_says_where_playback_stopped_then_where_it_landed_and_when() -> None:
    """Spec §4.2: the pauseStart opening a seek has the old position; the play ending it has the
    new position, stamped when the seek ended (not when it was known to have settled)."""
    run = started()
    run.player(5.0, P.TIMEUPDATE, 4.8)
    run.player(5.2, P.SEEKING, 40.0, seeking=True)
    run.player(5.25, P.WAITING, 40.0, seeking=True)  # loading what the seek asked for: not buffering
    run.player(5.4, P.SEEKED, 40.0)
    run.player(5.6, P.TIMEUPDATE, 40.2)
    run.advance(6.0)
    pause, play = [e for e in run.events if e.type in (E.PAUSE_START, E.PLAY)][-2:]
    assert (pause.type, seconds(pause), pause.playhead) == (E.PAUSE_START, 5.2, pytest.approx(5.0))
    assert (play.type, seconds(play), play.playhead) == (E.PLAY, 5.4, 40.0)
    assert E.BUFFER_START not in types(run)


def test_seeking_to_the_very_end_while_paused_completes_the_session() -> None:
    run = started()
    run.player(5.0, P.PAUSE, 4.8)
    run.player(6.0, P.SEEKING, MEDIA.length, paused=True, seeking=True)
    run.player(6.1, P.SEEKED, MEDIA.length, paused=True, ended=True)
    run.advance(30)
    assert types(run)[-1] == "sessionComplete"
    assert all(e.playhead < MEDIA.length for e in run.events if e.type is E.PING)


def test_what_fell_due_before_a_call_that_raises_is_kept_for_the_next_one() -> None:
    run = started()
    with pytest.raises(UsageError):
        run.tracker.complete_ad(ms(15))  # no ad open: refused, after the 10 s ping fell due
    later = run.tracker.tick(ms(15.5))
    assert [(e.type, seconds(e)) for e in later] == [(E.PING, 10)]
