"""The wire module: bodies, and the session named by a 201's Location."""

from __future__ import annotations

import pytest

from mediacollect import AdBreakInfo, AdInfo, ApiEvent, ChapterInfo, EventType, Qoe, parse_location, to_body
from mediacollect._wire import encode

REQUEST_URL = "https://example.hb-api.omtrdc.net/api/v1/sessions"
SID = "bfcca2ca597a3c71bc03b4ce357833ad02b3570d262ecd0c595fcf8f2ae4df58"


@pytest.mark.parametrize(
    ("location", "version", "sid", "events_url"),
    [
        (f"/api/v1/sessions/{SID}", "v1", SID, f"https://example.hb-api.omtrdc.net/api/v1/sessions/{SID}/events"),
        (f"/api/v1/sessions/{SID}/", "v1", SID, f"https://example.hb-api.omtrdc.net/api/v1/sessions/{SID}/events"),
        (f"/api/v1/sessions/{SID}?x=1#f", "v1", SID,
         f"https://example.hb-api.omtrdc.net/api/v1/sessions/{SID}/events"),
        (f"https://other.example/api/v2/sessions/{SID}", "v2", SID, f"https://other.example/api/v2/sessions/{SID}/events"),
        ("  /api/v1/sessions/abc  ", "v1", "abc", "https://example.hb-api.omtrdc.net/api/v1/sessions/abc/events"),
    ],
)
def test_location_forms(location: str, version: str, sid: str, events_url: str) -> None:
    parsed = parse_location(location, REQUEST_URL)
    assert parsed is not None
    assert (parsed.version, parsed.sid, parsed.events_url) == (version, sid, events_url)


@pytest.mark.parametrize("location", [None, "", "   ", "/api/v1/sessions/", "/api/v1/sessions", "/somewhere/else",
                                      "/api/v1/sessions/a/b", "ftp://x/api/v1/sessions/a"])
def test_locations_that_name_no_session(location: str | None) -> None:
    assert parse_location(location, REQUEST_URL) is None


def test_ping_body_is_playhead_and_ts_only() -> None:
    assert to_body(ApiEvent(EventType.PING, 12.4000000001, 5, 1)) == {
        "playerTime": {"playhead": 12.4, "ts": 5}, "eventType": "ping"}


def test_ad_and_chapter_params() -> None:
    ad_break = AdBreakInfo(pod_index=1, friendly_name="mid")
    assert to_body(ApiEvent(EventType.AD_BREAK_START, 21.5, 5, 1, ad_break=ad_break))["params"] == {
        "media.ad.podIndex": 1, "media.ad.podSecond": 21.5, "media.ad.podFriendlyName": "mid"}
    ad = AdInfo("a1", 15.0, 2, "ima", creative_url="https://c.example/x")
    assert to_body(ApiEvent(EventType.AD_START, 21.5, 6, 1, ad=ad, ad_break=ad_break))["params"] == {
        "media.ad.id": "a1", "media.ad.length": 15, "media.ad.podPosition": 2, "media.ad.playerName": "ima",
        "media.ad.creativeURL": "https://c.example/x", "media.ad.podFriendlyName": "mid"}
    chapter = ChapterInfo(3, 40, 20.25, "Three", custom_metadata={"k": "v"})
    body = to_body(ApiEvent(EventType.CHAPTER_START, 40, 7, 1, chapter=chapter,
                            custom_metadata=chapter.custom_metadata))
    assert body["params"] == {"media.chapter.index": 3, "media.chapter.offset": 40, "media.chapter.length": 20.25,
                              "media.chapter.friendlyName": "Three"}
    assert body["customMetadata"] == {"k": "v"}


def test_empty_qoe_is_left_out() -> None:
    assert "qoeData" not in to_body(ApiEvent(EventType.PLAY, 0, 5, 1, qoe=Qoe()))


def test_encode_is_compact_utf8_and_refuses_nan() -> None:
    assert encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()
    with pytest.raises(ValueError):
        encode({"x": float("nan")})
