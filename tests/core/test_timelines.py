"""Adobe's documented timelines (spec §5.1–5.3, §5.5, §5.6) as test vectors.

Each test plays the viewer's and the integrator's actions into the tracker with a fake clock
and compares what it emits with the table: event types, order, ``ts`` (T0 + t, +1 ms for
events sharing a second), playheads and the listed params. The tables list only some of the
1 s ad pings ("further ad pings omitted"); we check those separately: one every second of
every ad break, and no content ping inside a break.

Where the spec marks a documentation anomaly, the test follows the spec's resolution and says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from mediacollect import AdInfo, EventType, MediaConfig, PlayerEvent, to_body
from tests.core.harness import CONFIG, MEDIA, Run, ms, seconds
from tests.core.timelines import AD_1, AD_2, AD_3, T2_AD, T2_MID_AD, play_timeline_1, play_timeline_2, play_timeline_3

P = PlayerEvent

COMMON_START = {
    "media.playerName": "sample-html5-api-player",
    "media.contentType": "VOD",
    "media.length": 60.3333333333333,
    "media.id": "VA API Sample Player",
    "media.name": "ClickMe",
    "media.channel": "sample-channel",
    "analytics.enableSSL": False,
    "analytics.visitorId": "visitor-1",
    "analytics.trackingServer": "example.data.adobedc.net",
    "analytics.reportSuite": "example-rsid",
    "visitor.marketingCloudOrgId": "0123456789ABCDEF0123456789@AdobeOrg",
    # The table's media.sdkVersion "va-api-0.0.0" is Adobe's sample player; we send our own.
}
AD_COMMON = {"media.ad.playerName": "Sample Player", "media.ad.advertiser": "Ad Guys", "media.ad.siteId": "XYZ"}

Row = tuple[float, float, EventType, dict[str, Any]]


def ad_params(ad: AdInfo, pod: str) -> dict[str, Any]:
    params = {"media.ad.id": ad.id, "media.ad.length": ad.length, "media.ad.podPosition": ad.pod_position,
              "media.ad.name": ad.name, "media.ad.campaignId": ad.campaign_id, "media.ad.creativeId": ad.creative_id,
              "media.ad.placementId": ad.placement_id, "media.ad.podFriendlyName": pod, **AD_COMMON}
    if ad.creative_url:
        params["media.ad.creativeURL"] = ad.creative_url
    return params


def check(run: Run, expected: list[Row], ad_breaks: list[tuple[float, float]]) -> None:
    """Compare everything but the 1 s ad pings with the table, then the ad pings themselves."""
    def in_break(t: float) -> bool:
        return any(start < t <= end for start, end in ad_breaks)

    ad_pings = [e for e in run.events if e.type is EventType.PING and in_break(seconds(e))]
    rest = [e for e in run.events if e not in ad_pings]
    got = [(e.type, seconds(e), e.playhead) for e in rest]
    want = [(kind, t, ph) for t, ph, kind, _ in expected]
    assert [g[0] for g in got] == [w[0] for w in want]
    for (kind, t, ph), event in zip(want, rest, strict=True):
        assert ms(t) <= event.ts <= ms(t) + 5, (kind, t, event.ts - ms(0))
        assert event.playhead == pytest.approx(ph, abs=1e-6), (kind, t)
    for (_, _, _, params), event in zip(expected, rest, strict=True):
        body = to_body(event)
        for key, value in params.items():
            where = "customMetadata" if key == "customMetadata" else "qoeData" if key == "qoeData" else None
            actual = body.get(where) if where else body.get("params", {}).get(key)
            assert actual == value, (event.type, key)
    # Ad pings: one per second inside each break, frozen at the break's content position.
    for start, end in ad_breaks:
        pings = [e for e in ad_pings if start < seconds(e) <= end]
        assert [seconds(e) for e in pings] == [float(s) for s in range(int(start) + 1, int(end) + 1)]
        opening = next(e for e in rest if e.type is EventType.AD_BREAK_START and start <= seconds(e) < start + 0.01)
        assert {e.playhead for e in pings} == {opening.playhead}, "content playhead must not move in an ad"
    ts = [e.ts for e in run.events]
    assert ts == sorted(ts) and len(set(ts)) == len(ts), "ts must strictly increase"


def test_timeline_1_preroll_buffering_midroll_pause_complete() -> None:
    run = play_timeline_1()
    E = EventType
    check(run, [
        (0, 0, E.SESSION_START, COMMON_START),
        (0, 0, E.AD_BREAK_START, {"media.ad.podFriendlyName": "ad_pod1", "media.ad.podIndex": 0,
                                  "media.ad.podSecond": 0}),
        (0, 0, E.AD_START, {**ad_params(AD_1, "ad_pod1"),
                            "customMetadata": {"myCustomData1": "CustomData1", "myCustomData2": "CustomData2"}}),
        (15, 0, E.AD_COMPLETE, {}),
        (15, 0, E.AD_START, ad_params(AD_2, "ad_pod1")),
        (22, 0, E.AD_COMPLETE, {}),
        (22, 0, E.AD_BREAK_COMPLETE, {}),
        (22, 0, E.PLAY, {}),
        (30, 8, E.PING, {}),
        (33, 11, E.BUFFER_START, {}),
        (36, 11, E.PLAY, {}),
        (40, 15, E.PING, {}),
        (46, 21, E.AD_BREAK_START, {"media.ad.podFriendlyName": "ad_pod2", "media.ad.podIndex": 1,
                                    "media.ad.podSecond": 21}),
        (46, 21, E.AD_START, ad_params(AD_3, "ad_pod2")),
        (54, 21, E.AD_COMPLETE, {}),
        (54, 21, E.AD_BREAK_COMPLETE, {}),  # no play after a mid-roll
        (60, 27, E.PING, {}),
        (64, 31, E.PAUSE_START, {}),
        (70, 31, E.PING, {}),
        (74, 31, E.PLAY, {}),
        (80, 37, E.PING, {}),
        (88, 45, E.SESSION_COMPLETE, {}),
    ], ad_breaks=[(0, 22), (46, 54)])
    assert run.tracker.next_deadline is None, "no pings after sessionComplete"
    assert to_body(run.events[-1]) == {"playerTime": {"playhead": 45, "ts": ms(88)}, "eventType": "sessionComplete"}


def test_timeline_2_error_recovery_and_abandon_mid_ad() -> None:
    run = play_timeline_2()
    E = EventType
    bitrate = {"media.qoe.bitrate": 10000}  # the doc's unprefixed "bitrate" fails the schema (§5.2)
    check(run, [
        (0, 0, E.SESSION_START, COMMON_START),
        (0, 0, E.AD_BREAK_START, {"media.ad.podIndex": 0, "media.ad.podSecond": 0}),
        (0, 0, E.AD_START, ad_params(T2_AD, "ad_pod1")),
        (12, 0, E.AD_COMPLETE, {}),
        (12, 0, E.AD_BREAK_COMPLETE, {}),
        (12, 0, E.PLAY, {"qoeData": {**bitrate, "media.qoe.timeToStart": 0}}),
        (20, 8, E.PING, {}),
        (30, 18, E.PING, {}),
        # Error details in qoeData (spec §3.9 recommendation; the current doc shows none).
        (32, 20, E.ERROR, {"qoeData": {**bitrate, "media.qoe.errorID": "MEDIA_ERR_3",
                                       "media.qoe.errorSource": "player"}}),
        (37, 20, E.PLAY, {"qoeData": bitrate}),
        (40, 28, E.PING, {}),
        (45, 33, E.AD_BREAK_START, {"media.ad.podIndex": 1, "media.ad.podSecond": 33}),
        # The doc's adStart names pod "ad_pod1" (sic); ours repeats the open break's name.
        (45, 33, E.AD_START, ad_params(T2_MID_AD, "ad_pod2")),
        (48, 33, E.SESSION_END, {}),  # abandon mid-ad: no adComplete / adBreakComplete
    ], ad_breaks=[(0, 12), (45, 48)])
    assert run.tracker.next_deadline is None


def test_timeline_3_chapters_around_a_midroll() -> None:
    run = play_timeline_3()
    E = EventType
    check(run, [
        (0, 0, E.SESSION_START, COMMON_START),
        (0, 0, E.AD_BREAK_START, {"media.ad.podIndex": 0}),
        (0, 0, E.AD_START, ad_params(AD_1, "ad_pod1")),
        (15, 0, E.AD_COMPLETE, {}),
        (15, 0, E.AD_START, ad_params(AD_2, "ad_pod1")),
        (22, 0, E.AD_COMPLETE, {}),
        (22, 0, E.AD_BREAK_COMPLETE, {}),
        (22, 0, E.PLAY, {}),
        (23, 1, E.CHAPTER_START, {"media.chapter.index": 1, "media.chapter.offset": 0, "media.chapter.length": 20,
                                  "media.chapter.friendlyName": "Chapter Uno"}),
        (30, 8, E.PING, {}),
        (33, 11, E.BUFFER_START, {}),
        (36, 11, E.PLAY, {}),
        (40, 15, E.PING, {}),
        (45, 20, E.CHAPTER_COMPLETE, {}),
        (46, 21, E.AD_BREAK_START, {"media.ad.podIndex": 1, "media.ad.podSecond": 21}),
        (46, 21, E.AD_START, ad_params(AD_3, "ad_pod2")),
        (54, 21, E.AD_COMPLETE, {}),
        (54, 21, E.AD_BREAK_COMPLETE, {}),
        (55, 22, E.CHAPTER_START, {"media.chapter.index": 2, "media.chapter.offset": 22, "media.chapter.length": 22,
                                   "media.chapter.friendlyName": "Chapter Dos"}),
        (60, 27, E.PING, {}),
        (64, 31, E.PAUSE_START, {}),
        (70, 31, E.PING, {}),
        (74, 31, E.PLAY, {}),
        (80, 37, E.PING, {}),
        (87, 44, E.CHAPTER_COMPLETE, {}),
        (88, 45, E.SESSION_COMPLETE, {}),
    ], ad_breaks=[(0, 22), (46, 54)])


def test_player_states_as_single_calls() -> None:
    """Spec §5.5: the statesUpdate example expressed as the six single calls it replaces (we send
    single stateStart/stateEnd calls: every source documents them, [OAS] lacks statesUpdate)."""
    run = Run.new()
    run.player(0, P.PLAY, 0)
    run.player(0, P.PLAYING, 0)
    for t, method, name in [(1, "start_state", "pictureInPicture"), (1, "start_state", "mute"),
                            (2, "end_state", "mute"), (2, "end_state", "pictureInPicture"),
                            (2, "start_state", "fullScreen"), (3, "end_state", "fullScreen")]:
        run.call(t, getattr(run.tracker, method), name)
    states = [(e.type.value, e.state_name, seconds(e)) for e in run.events if e.state_name]
    assert states == [("stateStart", "pictureInPicture", 1.0), ("stateStart", "mute", 1.001),
                      ("stateEnd", "mute", 2.0), ("stateEnd", "pictureInPicture", 2.001),
                      ("stateStart", "fullScreen", 2.002), ("stateEnd", "fullScreen", 3.0)]
    assert to_body(run.events[2]) == {"playerTime": {"playhead": 1, "ts": ms(1)}, "eventType": "stateStart",
                                      "params": {"media.state.name": "pictureInPicture"}}


def test_live_playhead_is_the_second_of_the_day_utc() -> None:
    """Spec §5.6: joining a 24 h live stream at 12:00:00 UTC gives playhead 43200; after a pause,
    play carries the then-current second of the day."""
    noon = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 + 12 * 3_600_000
    run = Run.new(media=MediaConfig(id="live-channel", content_type="live"))
    start = run.tracker.observe(_obs(P.PLAY, noon, duration=float("inf")))
    assert to_body(start[0])["playerTime"] == {"playhead": 43200, "ts": noon}
    assert to_body(start[0])["params"]["media.length"] == 86400
    run.tracker.observe(_obs(P.PLAYING, noon + 500))
    run.tracker.observe(_obs(P.PAUSE, noon + 60_000, paused=True))
    resumed = run.tracker.observe(_obs(P.PLAYING, noon + 600_000))
    assert [e.type for e in resumed] == [EventType.PING, EventType.PLAY]  # the ping that fell due first
    assert resumed[1].playhead == 43800


def test_live_content_type_comes_from_an_infinite_duration() -> None:
    run = Run.new(media=MediaConfig(id="live-channel"))
    start = run.tracker.observe(_obs(P.PLAY, ms(0), duration=float("inf")))
    assert to_body(start[0])["params"]["media.contentType"] == "live"
    assert MEDIA.content_type == "VOD" and CONFIG.ad_ping_interval == 1


def _obs(event: PlayerEvent, ts: int, *, duration: float | None = None, paused: bool = False) -> Any:
    from mediacollect import Observation

    return Observation(event, ts, 0.0, duration=duration, paused=paused)
