"""A page player's choreography from shim records: ads in the content's element, VTT chapters."""

from __future__ import annotations

from typing import Any

import pytest

from mediacollect import ConfigError, MediaConfig, Tracker
from mediacollect._ads import parse_schedule
from mediacollect._chapters import Chapters
from mediacollect._player import Command, Mode, Player
from tests.core.harness import CONFIG, T0, RecordingDriver

SCHEDULE = {"breaks": [
    {"offset": 15, "name": "mid-roll", "ads": [
        {"id": "mid-1", "src": "/media/ad-b.webm", "length": 4},
        {"id": "mid-2", "src": "/media/ad-a.webm", "length": 6, "skip_after": 2, "name": "Skippable"}]},
    {"offset": 0, "name": "pre-roll", "ads": [
        {"id": "pre-1", "src": "/media/ad-a.webm", "length": 4, "advertiser": "ACME", "metadata": {"k": "v"}}]},
]}
CUES = [{"start": 0, "end": 10, "text": "Opening"}, {"start": 10, "end": 20, "text": "Middle"},
        {"start": 12, "end": 14, "text": "nested, dropped"}, {"start": 20, "end": 30, "text": " The\nend "}]


class Viewing:
    """Feeds shim records (as the shim stamps them) to a Player, t in seconds from T0."""

    def __init__(self, ads: Any = SCHEDULE, cues: Any = CUES, base_url: str | None = None) -> None:
        tracker = Tracker(CONFIG, MediaConfig(id="content", length=30.0))
        self.driver = RecordingDriver(tracker)
        self.player = Player(self.driver, player_name="html5", content_src="/media/clip.webm",
                             ads=parse_schedule(ads), base_url=base_url)
        self.commands: list[Command] = []
        self.auto_load = True  # carry "load" commands out at once, as the binding does
        if cues is not None:
            self.send(0, "chapters", cues=cues)

    def send(self, t: float, kind: str, playhead: float = 0.0, **extra: Any) -> list[Command]:
        record = {"type": kind, "ts": T0 + round(t * 1000), "playhead": playhead, "duration": 30.0,
                  "paused": kind == "pause", **extra}
        out = self.player.handle(record)
        if self.auto_load and any(c.action == "load" for c in out):
            self.player.loaded()
        self.commands += out
        return out

    def plays(self, t_from: float, t_to: float, playhead: float) -> None:
        """Content playing from ``t_from`` to ``t_to``: a timeupdate every 250 ms, as elements
        fire them (a longer silence while playing is a stall)."""
        steps = round((t_to - t_from) / 0.25)
        for i in range(1, steps + 1):
            t = t_from + (t_to - t_from) * i / steps
            self.send(t, "timeupdate", round(playhead + t - t_from, 3))

    def types(self) -> list[str]:
        return [e.type.value for e in self.driver.events if e.type.value != "ping"]


def test_pre_roll_mid_roll_and_chapters_in_one_element() -> None:
    v = Viewing()
    assert v.send(0, "play") == [Command("load", src="/media/ad-a.webm", at=0.0)]
    assert v.player.mode is Mode.AD_LOADING
    v.send(0.05, "pause")  # the source swap: not the viewer's
    v.send(0.1, "durationchange", duration=4.0)
    v.send(0.2, "playing", duration=4.0)
    v.send(1.0, "timeupdate", 0.8, duration=4.0)
    v.send(4.2, "pause", 4.0, ended=True, duration=4.0)
    assert v.send(4.2, "ended", 4.0, duration=4.0) == [Command("load", src="/media/clip.webm", at=0.0)]
    v.send(4.3, "seeking")
    v.send(4.4, "playing", 0.0)
    assert v.player.mode is Mode.CONTENT
    v.plays(4.4, 19.4, 0.0)  # the mid-roll at 15.0
    assert v.commands[-1] == Command("load", src="/media/ad-b.webm", at=0.0)
    v.send(19.6, "playing", 0.0, duration=4.0)
    v.send(23.6, "ended", 4.0, duration=4.0)
    v.send(23.8, "playing", 0.0, duration=6.0)
    assert v.send(26.0, "timeupdate", 2.1, duration=6.0) == [Command("show-skip")]
    assert v.send(26.5, "adskip") == [Command("hide-skip"), Command("load", src="/media/clip.webm", at=15.0)]
    v.send(26.7, "playing", 15.0)
    v.plays(26.7, 41.7, 15.0)
    v.send(41.7, "pause", 30.0, ended=True)
    v.send(41.7, "ended", 30.0)

    assert v.types() == [
        "sessionStart", "adBreakStart", "adStart", "adComplete", "adBreakComplete", "play",
        "chapterStart", "chapterComplete", "chapterStart",
        "adBreakStart", "adStart", "adComplete", "adStart", "adSkip", "adBreakComplete",
        "chapterComplete", "chapterStart", "chapterComplete", "sessionComplete",
    ]
    pre_break = next(e for e in v.driver.events if e.type.value == "adBreakStart")
    assert pre_break.ad_break is not None and pre_break.ad_break.pod_index == 0
    mid = [e for e in v.driver.events if e.type.value == "adBreakStart"][1]
    assert mid.ad_break is not None and (mid.ad_break.pod_index, mid.ad_break.pod_second) == (1, 15.0)
    assert mid.playhead == 15.0
    first_ad = next(e for e in v.driver.events if e.type.value == "adStart")
    assert first_ad.ad is not None and (first_ad.ad.id, first_ad.ad.pod_position, first_ad.ad.advertiser) == (
        "pre-1", 1, "ACME")
    assert first_ad.custom_metadata == {"k": "v"}
    skipped = [e for e in v.driver.events if e.type.value == "adStart"][2]
    assert skipped.ad is not None and (skipped.ad.id, skipped.ad.pod_position) == ("mid-2", 2)
    # During ads the content playhead stays where the break sits, whatever the element plays.
    for event in v.driver.events:
        if event.type.value in ("adStart", "adComplete", "adSkip", "adBreakComplete"):
            assert event.playhead in (0.0, 15.0)
    chapters = [e.chapter for e in v.driver.events if e.type.value == "chapterStart"]
    assert [(c.index, c.offset, c.length, c.friendly_name) for c in chapters if c] == [
        (1, 0.0, 10.0, "Opening"), (2, 10.0, 10.0, "Middle"), (3, 20.0, 10.0, "The end")]
    assert v.driver.tracker.state.value == "complete"


def test_pings_in_an_ad_never_read_the_ads_position_as_content() -> None:
    v = Viewing()
    v.send(0, "play")
    assert v.player.content_playhead(3.0) is None
    v.send(0.2, "playing", duration=4.0)
    assert v.player.content_playhead(3.0) is None
    v.send(4.2, "ended", 4.0)
    assert v.player.content_playhead(0.1) is None  # the content is still loading
    v.send(4.4, "playing", 0.0)
    assert v.player.content_playhead(0.1) == 0.1


def test_the_content_is_back_only_when_it_plays_from_where_the_break_took_it() -> None:
    v = Viewing(ads={"breaks": [{"offset": 10, "ads": [{"id": "a", "src": "/a.webm", "length": 1}]}]}, cues=None)
    v.send(0, "play")
    v.send(0.1, "playing")
    v.send(10.1, "timeupdate", 10.0)
    v.send(10.3, "playing", 0.0, duration=1.0)
    assert v.send(11.3, "ended", 1.0) == [Command("load", src="/media/clip.webm", at=10.0)]
    v.send(11.4, "playing", 0.0)  # the content's source, for a moment at its start
    assert v.player.mode is Mode.RESUMING
    v.send(11.5, "seeked", 4.0)  # the viewer moved it meanwhile: wherever it lands is where it resumes
    v.send(11.6, "playing", 4.0)
    assert v.player.mode is Mode.CONTENT
    assert v.player.content_playhead(4.2) == 4.2


def test_a_bitrate_reported_by_the_page_is_a_bitrate_change() -> None:
    v = Viewing(ads=None, cues=None)
    v.send(0, "play")
    v.send(0.1, "playing")
    v.send(2.0, "bitrate", bitrate=1_500_000)
    v.send(2.5, "bitrate", bitrate=1_500_000)  # the same: nothing to say
    v.send(3.0, "bitrate", bitrate="fast")  # not a number: ignored
    assert v.types() == ["sessionStart", "play", "bitrateChange"]
    change = v.driver.events[-1]
    assert change.qoe is not None and change.qoe.bitrate == 1_500_000 and change.ts == T0 + 2000


def test_events_the_previous_source_fired_before_the_swap_are_not_the_ads() -> None:
    v = Viewing(cues=None, base_url="https://site.test/watch/page.html")
    v.send(0, "play", src="https://site.test/media/clip.webm")
    v.send(0.05, "playing", src="https://site.test/media/clip.webm")  # the content's own first frame
    v.send(0.1, "waiting", src="https://site.test/media/ad-a.webm")  # the ad, loading
    assert v.player.mode is Mode.AD_LOADING
    v.send(0.3, "playing", src="https://site.test/media/ad-a.webm", duration=4.0)
    assert v.player.mode is Mode.AD
    assert v.types() == ["sessionStart", "adBreakStart", "adStart"]


def test_a_skip_click_before_the_button_shows_does_nothing() -> None:
    v = Viewing(ads={"breaks": [{"offset": 0, "ads": [{"id": "a", "src": "/a.webm", "length": 6, "skip_after": 3}]}]})
    v.send(0, "play")
    v.send(0.2, "playing")
    assert v.send(1.0, "adskip") == []
    assert v.send(2.0, "timeupdate", 1.8) == []
    assert v.send(3.5, "timeupdate", 3.2) == [Command("show-skip")]
    assert v.send(3.6, "timeupdate", 3.4) == []  # shown once
    v.send(4.0, "adskip")
    assert v.types()[-3:] == ["adSkip", "adBreakComplete", "play"]


def test_an_ad_that_fails_is_reported_and_the_content_goes_on() -> None:
    v = Viewing(cues=None)
    v.send(0, "play")
    v.send(0.3, "error", error_code=4, error_message="MEDIA_ELEMENT_ERROR: Format error")
    assert v.commands[-1] == Command("load", src="/media/clip.webm", at=0.0)
    v.send(0.5, "playing", 0.0)
    assert v.types() == ["sessionStart", "adBreakStart", "error", "adBreakComplete", "play"]
    error = next(e for e in v.driver.events if e.type.value == "error")
    assert error.qoe is not None and error.qoe.error_id == "ad pre-1: media error 4"
    assert v.driver.tracker.state.value == "playing"


def test_pausing_an_ad_is_a_pause_in_the_break() -> None:
    v = Viewing(cues=None)
    v.send(0, "play")
    v.send(0.2, "playing", duration=4.0)
    v.send(1.0, "pause", 0.8, duration=4.0)
    v.send(3.0, "play", 0.8, duration=4.0)
    v.send(3.1, "playing", 0.8, duration=4.0)
    assert v.types() == ["sessionStart", "adBreakStart", "adStart", "pauseStart", "play"]
    assert v.driver.tracker.in_ad_break


def test_a_seek_past_two_mid_rolls_plays_only_the_last() -> None:
    v = Viewing(ads={"breaks": [{"offset": 5, "ads": [{"id": "a", "src": "/a.webm", "length": 1}]},
                                {"offset": 10, "ads": [{"id": "b", "src": "/b.webm", "length": 1}]}]}, cues=None)
    v.send(0, "play")
    v.send(0.1, "playing")
    v.send(1.0, "seeking", 12.0)
    v.send(1.1, "seeked", 12.0)
    v.send(1.6, "timeupdate", 12.2)
    breaks = [e for e in v.driver.events if e.type.value == "adBreakStart"]
    assert len(breaks) == 1 and breaks[0].ad_break is not None and breaks[0].ad_break.pod_index == 1
    assert v.player.pending_breaks == 0


def test_schedule_errors_name_the_field() -> None:
    cases = [
        ({"breaks": [{"offset": 0, "ads": []}]}, "ads.breaks[0].ads"),
        ({"breaks": [{"offset": -1, "ads": [{"id": "a", "src": "/a", "length": 1}]}]}, "ads.breaks[0].offset"),
        ([{"offset": 0, "ads": [{"id": "a", "length": 1}]}], "ads[0].ads[0].src"),
        ([{"offset": 0, "ads": [{"id": "a", "src": "/a", "length": 0}]}], "ads[0].ads[0].length"),
        ([{"offset": 0, "ads": [{"id": "a", "src": "/a", "length": 1, "metadata": {"k": 1}}]}],
         "ads[0].ads[0].metadata"),
        ([{"offset": 0, "ads": [{"id": "a", "src": "/a", "length": 1, "colour": "red"}]}], "ads[0].ads[0].colour"),
        ({"pods": []}, "ads.pods"),
        ("pre-roll", "ads"),
    ]
    for data, field in cases:
        with pytest.raises(ConfigError) as caught:
            parse_schedule(data)
        assert caught.value.field == field, data
    same_offset = [{"offset": 3, "ads": [{"id": "a", "src": "/a", "length": 1}]}] * 2
    with pytest.raises(ConfigError, match="same offset"):
        parse_schedule(same_offset)


def test_chapters_from_cues() -> None:
    chapters = Chapters.from_cues([*CUES, {"start": 40, "end": 39}, {"start": "x", "end": 2}, {"start": 31}])
    assert [c.offset for c in chapters.items] == [0.0, 10.0, 20.0]
    assert chapters.at(0.0) is not None and chapters.at(0.0).index == 1  # type: ignore[union-attr]
    assert chapters.at(9.999).index == 1  # type: ignore[union-attr]
    assert chapters.at(10.0).index == 2  # type: ignore[union-attr]
    assert chapters.at(30.0) is None
    assert chapters.at(-1.0) is None
    gap = Chapters.from_cues([{"start": 0, "end": 5, "text": ""}, {"start": 8, "end": 9, "text": "<b>x</b>"}])
    assert gap.at(6.0) is None
    assert gap.items[0].friendly_name is None and gap.items[1].friendly_name == "<b>x</b>"


def test_a_seek_past_a_mid_roll_puts_the_break_where_the_seek_landed() -> None:
    """podSecond and the playhead frozen for the break agree: both the landing position."""
    v = Viewing(ads={"breaks": [{"offset": 15, "ads": [{"id": "m", "src": "/media/ad-b.webm", "length": 4}]}]},
                cues=None)
    v.send(0, "play")
    v.send(0.1, "playing")
    v.plays(0.1, 5.1, 0.0)
    v.send(5.2, "seeking", 20.5)
    v.send(5.3, "seeked", 20.5)
    v.plays(5.3, 6.0, 20.5)
    start = next(e for e in v.driver.events if e.type.value == "adBreakStart")
    assert start.ad_break is not None and start.ad_break.pod_second == start.playhead
    assert 20.5 <= start.playhead < 21.5  # once the seek has settled (300 ms)
    v.send(6.2, "playing", 0.0, duration=4.0)
    v.send(8.0, "timeupdate", 1.8, duration=4.0)
    assert {e.playhead for e in v.driver.events if e.ts >= start.ts} == {start.playhead}


def test_an_ad_the_viewer_seeks_to_its_end_is_skipped_not_completed() -> None:
    v = Viewing(cues=None)
    v.send(0, "play")
    v.send(0.2, "playing", 0.0, duration=4.0)
    v.send(1.0, "timeupdate", 0.8, duration=4.0)
    v.send(1.2, "seeking", 4.0, duration=4.0, seeking=True)
    v.send(1.25, "waiting", 4.0, duration=4.0, seeking=True)
    v.send(1.3, "seeked", 4.0, duration=4.0)
    v.send(1.31, "ended", 4.0, duration=4.0, ended=True)
    assert v.types() == ["sessionStart", "adBreakStart", "adStart", "adSkip", "adBreakComplete", "play"]


def test_an_ad_played_out_is_completed() -> None:
    v = Viewing(cues=None)
    v.send(0, "play")
    v.send(0.2, "playing", 0.0, duration=4.0)
    for i in range(1, 17):
        v.send(0.2 + i * 0.25, "timeupdate", i * 0.25, duration=4.0)
    v.send(4.3, "ended", 4.0, duration=4.0, ended=True)
    assert v.types() == ["sessionStart", "adBreakStart", "adStart", "adComplete", "adBreakComplete", "play"]


def test_a_new_source_is_new_media_and_the_old_session_is_abandoned() -> None:
    v = Viewing(ads=None, cues=None)
    clip = "http://site.test/media/clip.webm"
    v.send(0, "play", src=clip)
    v.send(0.1, "playing", src=clip)
    v.plays(0.1, 5.5, 0.0)
    other = "http://site.test/media/other.webm"
    assert v.send(5.6, "durationchange", 0.0, duration=12.0, src=other) == [Command("new-media", src=other)]
    v.player.change_media(MediaConfig(id="other"), other, (), T0 + 5600)
    v.send(5.6, "durationchange", 0.0, duration=12.0, src=other)
    v.send(5.8, "play", 0.0, duration=12.0, src=other)
    v.send(5.9, "playing", 0.0, duration=12.0, src=other)
    assert v.types() == ["sessionStart", "play", "sessionEnd", "sessionStart", "play"]
    starts = [e for e in v.driver.events if e.type.value == "sessionStart"]
    assert [s.session_params.media_id for s in starts if s.session_params] == ["content", "other"]
    new = starts[1].session_params
    assert new is not None and new.length == 12.0 and not new.resume  # the element's length, not a resume


def test_a_pause_pressed_before_the_pre_roll_is_swapped_in_holds_it() -> None:
    """The viewer pauses before the binding has swapped the ad in: that pause is theirs (the
    element still has the content), so the ad is not started over it; nothing is reported
    between adBreakStart and adStart (spec §4.5). Their next play starts the ad."""
    v = Viewing(cues=None)
    v.auto_load = False
    assert v.send(0, "play")[0].action == "load"
    v.send(0.05, "pause", paused=True)
    assert v.player.viewer_paused
    assert v.player.loaded() is False  # the ad's source is set, but not played
    v.send(0.1, "pause", paused=True)  # the swap's own pause: not the viewer's
    v.send(2.0, "play")
    v.send(2.2, "playing", 0.0, duration=4.0)
    assert v.types() == ["sessionStart", "adBreakStart", "adStart"]
