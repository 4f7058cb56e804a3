"""What the page hands to Python: settings, video attributes and shim events."""

from __future__ import annotations

import json
import math

import pytest

from mediacollect import ConfigError, PlayerEvent, Report
from mediacollect._inputs import log_line, media_config, observation, tracker_config

SETTINGS = {"endpoint": "http://127.0.0.1:8001", "tracking_server": "t.example", "report_suite": "rs",
            "org_id": "O@AdobeOrg", "channel": "web", "player_name": "html5"}


def test_settings_and_the_endpoint_override() -> None:
    config = tracker_config(json.dumps(SETTINGS), "http://127.0.0.1:9999")
    assert config.endpoint == "http://127.0.0.1:9999"
    assert config.api_base == "http://127.0.0.1:9999/api/v1"
    assert tracker_config(json.dumps(SETTINGS), None).endpoint == "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"report_suite": ""}, "report_suite", "must be a non-empty string"),
        ({"endpoint": "example.com"}, "endpoint", "must be an http(s) URL such as https://example.hb-api.omtrdc.net"),
        ({"endpoint": "https://x.example/api/v1"}, "endpoint", "is the base before /api/v1 (leave /api/v1 off)"),
        ({"endpoint": "https://x.example?a=1"}, "endpoint", "must not have a query or fragment"),
        ({"endpoint": "ftp://x.example"}, "endpoint", "must be an http(s) URL"),
        ({"endpoint": "https://"}, "endpoint", "must be an http(s) URL"),
        ({"ad_ping_interval": 5}, "ad_ping_interval", "must be 1 or 10 (seconds; spec §4.3)"),
        ({"enable_ssl": "yes"}, "enable_ssl", "must be true or false"),
        ({"reportSuite": "x"}, "reportSuite", "is not a known field"),
    ],
)
def test_a_wrong_setting_names_the_field_and_the_rule(change: dict[str, object], field: str, rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tracker_config(json.dumps({**SETTINGS, **change}), None)
    assert caught.value.field == field and caught.value.rule.startswith(rule)


def test_a_missing_setting_is_named() -> None:
    settings = dict(SETTINGS)
    del settings["org_id"]
    with pytest.raises(ConfigError, match="config field 'org_id' is required"):
        tracker_config(json.dumps(settings), None)
    with pytest.raises(ConfigError, match="not valid JSON"):
        tracker_config("{", None)
    with pytest.raises(ConfigError, match="is missing"):
        tracker_config(None, None)


def test_video_attributes() -> None:
    media = media_config({"mediaId": "clip", "mediaName": "Clip", "mediaLength": "12.5",
                          "customMetadata": '{"a.b": "c"}', "standardMetadata": '{"media.show": "S"}'})
    assert (media.id, media.name, media.length) == ("clip", "Clip", 12.5)
    assert media.custom_metadata == {"a.b": "c"} and media.standard_metadata == {"media.show": "S"}


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({}, "config field 'data-media-id' is required"),
        ({"mediaId": "x", "mediaLength": "long"}, "'data-media-length' must be a number"),
        ({"mediaId": "x", "mediaLength": "-3"}, "'data-media-length' must be a number of seconds greater than 0"),
        ({"mediaId": "x", "customMetadata": "[1]"}, "'data-custom-metadata' must be a JSON object"),
        ({"mediaId": "x", "customMetadata": '{"bad key": "v"}'}, "'data-custom-metadata.bad key' key must match"),
        ({"mediaId": "x", "standardMetadata": '{"media.nope": "v"}'},
         "'data-standard-metadata.media.nope' is not a standard metadata key"),
        ({"mediaId": "x", "mediaStreamType": "tv"}, "'data-media-stream-type' must be 'video' or 'audio'"),
    ],
)
def test_wrong_video_attributes_are_named(dataset: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        media_config(dataset)


def test_shim_records() -> None:
    obs = observation({"type": "play", "ts": 1700000000123, "playhead": 1.5, "duration": "Infinity",
                       "paused": False, "ended": False})
    assert obs is not None and obs.event is PlayerEvent.PLAY and obs.ts == 1700000000123
    assert obs.duration is not None and math.isinf(obs.duration)
    err = observation({"type": "error", "ts": 5, "playhead": None, "duration": None, "error_code": 4,
                       "error_message": "unsupported"})
    assert err is not None and (err.error_code, err.error_message, err.playhead, err.duration) == (
        4, "unsupported", 0.0, None)
    assert observation({"type": "ratechange", "ts": 5}) is None
    assert err.states is None and err.dropped_frames is None
    assert observation({"type": "play", "ts": "soon"}) is None


def test_log_lines() -> None:
    line = log_line(Report("session", "sessionStart", 1, 201, latency_ms=35, sid="abc", attempt=1, playhead=0.0))
    assert (line.event_type, line.status, line.is_error) == ("sessionStart", "201", False)
    assert line.text == "sessionStart @ 0.0 s → 201 in 35 ms · session abc"
    late = log_line(Report("sent", "ping", 1, 204, latency_ms=9, attempt=3, playhead=12.345))
    assert late.text == "ping @ 12.3 s → 204 in 9 ms after 2 retries"
    retry = log_line(Report("retry", "play", 1, None, "NetworkError", attempt=1, retry_in_ms=1500))
    assert retry.status == "network" and "retrying in 1.5 s" in retry.text
    rejected = log_line(Report("rejected", "sessionStart", 1, 400, "<b>bad</b>"))
    assert rejected.is_error and rejected.text.endswith("rejected: <b>bad</b>")  # rendered as text by the page


def test_shim_state_flags() -> None:
    obs = observation({"type": "volumechange", "ts": 5, "playhead": 1, "muted": True, "fullscreen": False,
                       "pip": True, "captions": False, "dropped": 3})
    assert obs is not None and obs.event is PlayerEvent.STATE
    assert obs.states == frozenset({"mute", "pictureInPicture"}) and obs.dropped_frames == 3
    plain = observation({"type": "play", "ts": 5, "muted": False, "fullscreen": False, "pip": False,
                         "captions": True, "dropped": True})
    assert plain is not None and plain.states == frozenset({"closedCaptioning"}) and plain.dropped_frames is None


def test_console_levels() -> None:
    sent = log_line(Report("sent", "play", 1, 204, latency_ms=5))
    retry = log_line(Report("retry", "play", 1, 503, "busy", attempt=1, retry_in_ms=500))
    lost = log_line(Report("dropped", "ping", 1, message="offline too long"))
    assert [line.level for line in (sent, retry, lost)] == ["info", "warning", "error"]
    assert [line.shown_at("warning") for line in (sent, retry, lost)] == [False, True, True]
    assert not lost.shown_at("silent") and sent.shown_at("debug")
    with pytest.raises(ConfigError, match="log_level"):
        tracker_config(json.dumps({**SETTINGS, "log_level": "loud"}), None)
