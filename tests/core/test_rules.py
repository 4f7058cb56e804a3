"""The validation table: what a body may carry, with messages naming event, field and rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mediacollect import validate_body
from tests.helpers import START

TS_RULE = "sessionStart: playerTime.ts must be an integer (UTC milliseconds)"
PLAYHEAD_RULE = "sessionStart: playerTime.playhead must be a number (seconds)"


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        last = last.replace("_DOT_", ".")
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return body


def messages(body: Any, **kwargs: Any) -> list[str]:
    return [p.message for p in validate_body(body, **kwargs)]


def test_the_spec_minimal_session_start_is_valid() -> None:
    assert messages(START) == []
    assert messages(START, expected_event_type="sessionStart") == []


@pytest.mark.parametrize("key", sorted(START["params"]))
def test_each_required_session_param(key: str) -> None:
    body = copy.deepcopy(START)
    del body["params"][key]
    assert messages(body) == [f"sessionStart: params.{key} is required"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], ["request: body must be a JSON object"]),
        ({}, ["request: eventType is required", "request: playerTime is required"]),
        (with_changes(START, eventType="pause"),
         ["request: eventType must be one of the known event types (got 'pause')"]),
        (with_changes(START, extra=1), ["sessionStart: extra is not an allowed top-level member"]),
        (with_changes(START, playerTime__ts=1.5), [TS_RULE]),
        (with_changes(START, playerTime__ts="1"), [TS_RULE]),
        (with_changes(START, playerTime__playhead=True), [PLAYHEAD_RULE]),
        (with_changes(START, playerTime__playhead=float("nan")),
         [PLAYHEAD_RULE]),
        (with_changes(START, playerTime__playhead=-1), ["sessionStart: playerTime.playhead must not be negative"]),
        (with_changes(START, playerTime__x=1),
         ["sessionStart: playerTime.x is not allowed (playerTime has exactly playhead and ts)"]),
        (with_changes(START, params__media_DOT_length="3600"), ["sessionStart: params.media.length must be a number"]),
        (with_changes(START, params__media_DOT_length=0), ["sessionStart: params.media.length must be greater than 0"]),
        (with_changes(START, params__media_DOT_id=""), ["sessionStart: params.media.id must not be empty"]),
        (with_changes(START, params__analytics_DOT_enableSSL="true"),
         ["sessionStart: params.analytics.enableSSL must be a boolean"]),
        (with_changes(START, params__media_DOT_chanel="x"),
         ["sessionStart: params.media.chanel is not a known parameter of this event"]),
        (with_changes(START, customMetadata={"bad key": "x"}),
         ["sessionStart: customMetadata.'bad key' key must match ^[a-zA-Z0-9_.]+$"]),
        (with_changes(START, customMetadata={"k": 1}), ["sessionStart: customMetadata.k must be a string"]),
        (with_changes(START, qoeData={"bitrate": 1}),
         ["sessionStart: qoeData.bitrate is not a known QoE key (only media.qoe.* keys are allowed)"]),
        (with_changes(START, qoeData={"media.qoe.bitrate": 1.5}),
         ["sessionStart: qoeData.media.qoe.bitrate must be an integer"]),
        (with_changes(START, params=...), ["sessionStart: params is required"]),
        (with_changes(START, params__visitor_DOT_customerIDs={"crm": {"id": "1", "authState": 3}}),
         ["sessionStart: params.visitor.customerIDs.crm.authState must be 0, 1 or 2"]),
    ],
)
def test_broken_bodies_name_event_field_and_rule(body: Any, expected: list[str]) -> None:
    assert messages(body) == expected


def test_session_start_only_on_the_sessions_endpoint() -> None:
    play = {"playerTime": {"playhead": 1, "ts": 5}, "eventType": "play"}
    assert messages(play, expected_event_type="sessionStart") == [
        "play: eventType must be 'sessionStart' on this endpoint"]


@pytest.mark.parametrize(
    ("event_type", "params", "extra", "expected"),
    [
        ("ping", {}, {}, ["ping: params must be omitted on this event"]),
        ("play", {}, {}, []),  # Adobe's own example sends "params": {}
        ("play", None, {"customMetadata": {"a": "b"}},
         ["play: customMetadata is only allowed on sessionStart, adStart and chapterStart"]),
        ("adBreakStart", {"media.ad.podIndex": 0}, {}, ["adBreakStart: params.media.ad.podSecond is required"]),
        ("adStart", {"media.ad.id": "1", "media.ad.length": 15, "media.ad.podPosition": 1}, {},
         ["adStart: params.media.ad.playerName is required"]),
        ("chapterStart", {"media.chapter.index": "1", "media.chapter.offset": 0, "media.chapter.length": 20}, {},
         ["chapterStart: params.media.chapter.index must be an integer"]),
        ("stateStart", None, {}, ["stateStart: params is required"]),
        ("statesUpdate", {}, {}, ["statesUpdate: params must have statesStart or statesEnd"]),
        ("statesUpdate", {"statesStart": [{"media.state.name": "mute"}, {"name": "x"}]}, {},
         ['statesUpdate: params.statesStart[1] must be {"media.state.name": "<name>"}']),
        ("error", None, {"qoeData": {"media.qoe.errorID": "e", "media.qoe.errorSource": "cdn"}},
         ["error: qoeData.media.qoe.errorSource must be 'player' or 'external'"]),
        ("sessionEnd", None, {}, []),
    ],
)
def test_event_rules(event_type: str, params: Any, extra: dict[str, Any], expected: list[str]) -> None:
    body: dict[str, Any] = {"playerTime": {"playhead": 1, "ts": 5}, "eventType": event_type, **extra}
    if params is not None:
        body["params"] = params
    assert messages(body) == expected
