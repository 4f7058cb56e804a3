"""The viewer's and integrator's actions of Adobe's documented timelines (spec §5.1–5.3),
played into a tracker with a fake clock. test_timelines compares what comes out with the tables;
the emulator's endpoint tests send the same traffic over HTTP."""

from __future__ import annotations

from mediacollect import AdBreakInfo, AdInfo, ChapterInfo, PlayerEvent
from tests.core.harness import Run, ms

P = PlayerEvent

AD_1 = AdInfo(id="001", length=15, pod_position=1, player_name="Sample Player", name="Ad 1", advertiser="Ad Guys",
              campaign_id="1", creative_id="42", site_id="XYZ", creative_url="https://example.com",
              placement_id="sample_placement",
              custom_metadata={"myCustomData1": "CustomData1", "myCustomData2": "CustomData2"})
# podPosition 1 for the second ad of pod 1 and 2 for the only ad of pod 2 are "(sic)" in the
# docs (spec §5.1 anomalies); the tracker sends what the integrator gives, so we keep them.
AD_2 = AdInfo(id="002", length=7, pod_position=1, player_name="Sample Player", name="Ad 2", advertiser="Ad Guys",
              campaign_id="2", creative_id="44", site_id="XYZ", placement_id="sample_placement2")
AD_3 = AdInfo(id="003", length=8, pod_position=2, player_name="Sample Player", name="Ad 3", advertiser="Ad Guys",
              campaign_id="7", creative_id="40", site_id="XYZ", placement_id="sample_placement2")
POD_1 = AdBreakInfo(pod_index=0, pod_second=0, friendly_name="ad_pod1")
POD_2 = AdBreakInfo(pod_index=1, pod_second=21, friendly_name="ad_pod2")

T2_AD = AdInfo(id="002", length=7, pod_position=1, player_name="Sample Player", name="Ad 1", advertiser="Ad Guys",
               campaign_id="1", creative_id="42", site_id="XYZ", creative_url="https://xyz-creative.com",
               placement_id="sample-placement2")
T2_MID_AD = AdInfo(id="002", length=8, pod_position=1, player_name="Sample Player", name="Ad 1",
                   advertiser="Ad Guys", campaign_id="7", creative_id="40", site_id="XYZ",
                   creative_url="https://example.com", placement_id="sample_placement2")


def play_timeline_1() -> Run:
    """Spec §5.1 played into the tracker."""
    run = Run.new()
    run.player(0, P.PLAY, 0)
    run.call(0, run.tracker.start_ad_break, POD_1)
    run.call(0, run.tracker.start_ad, AD_1)
    run.player(0, P.PLAYING, 0)  # the pre-roll's first frame: no content play yet
    run.call(15, run.tracker.complete_ad)
    run.call(15, run.tracker.start_ad, AD_2)
    run.call(22, run.tracker.complete_ad)
    run.call(22, run.tracker.complete_ad_break)
    run.advance(30, playhead=8)
    run.player(33, P.WAITING, 11)
    run.player(36, P.PLAYING, 11)
    run.advance(40, playhead=15)
    run.call(46, run.tracker.start_ad_break, POD_2, playhead=21)
    run.call(46, run.tracker.start_ad, AD_3)
    run.call(54, run.tracker.complete_ad)
    run.call(54, run.tracker.complete_ad_break)
    run.advance(60, playhead=27)
    run.player(64, P.PAUSE, 31)
    run.advance(70, playhead=31)
    run.player(74, P.PLAY, 31)
    run.player(74, P.PLAYING, 31)
    run.advance(80, playhead=37)
    run.player(88, P.ENDED, 45)
    return run


def play_timeline_2() -> Run:
    """Spec §5.2 played into the tracker."""
    run = Run.new()
    run.tracker.update_qoe(ms(0), bitrate=10000)  # known before the session: no bitrateChange
    run.player(0, P.PLAY, 0)
    run.call(0, run.tracker.start_ad_break, POD_1)
    run.call(0, run.tracker.start_ad, T2_AD)
    run.player(0, P.PLAYING, 0)
    run.call(12, run.tracker.complete_ad)
    run.call(12, run.tracker.complete_ad_break)
    run.advance(20, playhead=8)
    run.advance(30, playhead=18)
    run.player(32, P.ERROR, 20, error_code=3, error_message="decode error")
    run.player(37, P.PLAYING, 20)  # the table's ph 20 (its JSON says 18; spec §5.2 anomaly)
    # The doc's ph 28 at t=40 and 33 at t=45 imply content advanced through the error; we
    # report what the element says at each moment, so the table's values come out as printed.
    run.advance(40, playhead=28)
    run.call(45, run.tracker.start_ad_break, AdBreakInfo(1, 33, "ad_pod2"), playhead=33)
    run.call(45, run.tracker.start_ad, T2_MID_AD)
    run.player(48, P.TEARDOWN, 33)
    return run


def play_timeline_3() -> Run:
    """Spec §5.3 played into the tracker."""
    chapter_1 = ChapterInfo(index=1, offset=0, length=20, friendly_name="Chapter Uno")
    chapter_2 = ChapterInfo(index=2, offset=22, length=22, friendly_name="Chapter Dos")
    run = Run.new()
    run.player(0, P.PLAY, 0)
    run.call(0, run.tracker.start_ad_break, POD_1)
    run.call(0, run.tracker.start_ad, AD_1)
    run.player(0, P.PLAYING, 0)
    run.call(15, run.tracker.complete_ad)
    run.call(15, run.tracker.start_ad, AD_2)
    run.call(22, run.tracker.complete_ad)
    run.call(22, run.tracker.complete_ad_break)
    run.call(23, run.tracker.start_chapter, chapter_1)  # ph 1 per the table (its JSON says 0)
    run.advance(30, playhead=8)
    run.player(33, P.WAITING, 11)
    run.player(36, P.PLAYING, 11)
    run.advance(40, playhead=15)
    run.call(45, run.tracker.complete_chapter)
    run.call(46, run.tracker.start_ad_break, POD_2)
    run.call(46, run.tracker.start_ad, AD_3)
    run.call(54, run.tracker.complete_ad)
    run.call(54, run.tracker.complete_ad_break)
    run.call(55, run.tracker.start_chapter, chapter_2)
    run.advance(60, playhead=27)
    run.player(64, P.PAUSE, 31)
    run.advance(70, playhead=31)
    run.player(74, P.PLAYING, 31)
    run.advance(80, playhead=37)
    run.call(87, run.tracker.complete_chapter)  # ph 44 per the table (its JSON says 0)
    run.player(88, P.ENDED, 45)
    return run
