"""The endpoints beyond one-event-per-request: schemas, offline batches (and the deprecated
array form), the spec's timelines as HTTP traffic with their metrics, export and replay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from mediacollect import to_body
from tests.core.timelines import play_timeline_1, play_timeline_2, play_timeline_3
from tests.emulator.inprocess import post
from tests.helpers import START

OFFLINE = [  # spec §5.4
    {**START, "playerTime": {"playhead": 0, "ts": 1529997923478}},
    {"playerTime": {"playhead": 0, "ts": 1529997928174}, "eventType": "play"},
    {"playerTime": {"playhead": 10, "ts": 1529997937503}, "eventType": "ping"},
    {"playerTime": {"playhead": 20, "ts": 1529997947533}, "eventType": "ping"},
    {"playerTime": {"playhead": 30, "ts": 1529997957545}, "eventType": "ping"},
    {"playerTime": {"playhead": 35, "ts": 1529997960559}, "eventType": "sessionComplete"},
]


def test_schemas_endpoint(client: TestClient) -> None:
    response = client.get("/api/v1/schemas/sessionStart")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    schema = response.json()
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["properties"]["params"]["additionalProperties"] is False
    assert "media.length" in schema["properties"]["params"]["required"]
    ping = client.get("/api/v1/schemas/ping").json()
    assert "params" not in ping["properties"] and "customMetadata" not in ping["properties"]
    missing = client.get("/api/v1/schemas/nope")
    assert missing.status_code == 404 and missing.json() == {"message": "no schema for event type 'nope'"}
    assert client.post("/api/v1/schemas/ping").status_code == 405


def test_unknown_endpoint_and_wrong_method(client: TestClient) -> None:
    unknown = client.get("/api/v1/nothing")
    assert unknown.status_code == 404 and unknown.headers["access-control-allow-origin"] == "*"
    wrong = client.get("/api/v1/sessions")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"


def test_downloaded_batch_is_one_closed_session_processed_in_ts_order(client: TestClient) -> None:
    shuffled = [OFFLINE[0], OFFLINE[3], OFFLINE[1], OFFLINE[2], OFFLINE[5], OFFLINE[4]]
    response = post(client, "/api/v1/downloaded", shuffled)
    assert response.status_code == 201
    sid = response.headers["location"].rsplit("/", 1)[1]
    detail = client.get(f"/_emulator/sessions/{sid}").json()
    assert detail["kind"] == "downloaded" and detail["closed"]
    assert [p["body"] for p in detail["processed"]] == OFFLINE
    metrics = detail["metrics"]
    assert metrics["content_starts"] == 1 and metrics["content_completes"] == 1
    assert metrics["content_time_spent_s"] == pytest.approx((1529997960559 - 1529997928174) / 1000)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([], "request: an offline batch must hold at least a sessionStart"),
        (OFFLINE[1:], "event 0: play: eventType must be 'sessionStart' on this endpoint (the whole batch was "
                      "discarded)"),
        ([*OFFLINE[:3], {"playerTime": {"playhead": "x", "ts": 1}, "eventType": "ping"}],
         "event 3: ping: playerTime.playhead must be a number (seconds) (the whole batch was discarded)"),
        ([*OFFLINE, OFFLINE[0]], "event 6: sessionStart may only be the first event of a batch"),
        (OFFLINE[0], "request: body must be a JSON array of events (sessionStart first)"),
    ],
)
def test_a_bad_batch_is_discarded_whole(client: TestClient, batch: Any, message: str) -> None:
    response = post(client, "/api/v1/downloaded", batch)
    assert response.status_code == 400 and response.json() == {"message": message}
    assert client.get("/_emulator/sessions").json() == []


def test_deprecated_array_on_sessions_needs_the_downloaded_flag(client: TestClient) -> None:
    refused = post(client, "/api/v1/sessions", OFFLINE)
    assert refused.status_code == 400 and "media.downloaded must be true" in refused.json()["message"]
    flagged = [{**OFFLINE[0], "params": {**START["params"], "media.downloaded": True}}, *OFFLINE[1:]]
    assert post(client, "/api/v1/sessions", flagged).status_code == 201
    live_with_flag = post(client, "/api/v1/sessions", flagged[0])
    assert live_with_flag.status_code == 400
    assert "media.downloaded is only allowed in an offline batch" in live_with_flag.json()["message"]


def post_run(client: TestClient, bodies: list[dict[str, Any]]) -> str:
    created = post(client, "/api/v1/sessions", bodies[0])
    assert created.status_code == 201, created.text
    sid = str(created.headers["location"].rsplit("/", 1)[1])
    for body in bodies[1:]:
        response = post(client, f"/api/v1/sessions/{sid}/events", body)
        assert response.status_code == 204, (body, response.text)
    return sid


def metrics_of(client: TestClient, sid: str) -> dict[str, Any]:
    result = client.get(f"/_emulator/sessions/{sid}/metrics").json()
    assert result["warnings"] == [], result["warnings"]
    return dict(result["metrics"])


# Expected figures worked out by hand from the spec §5 tables (t in seconds):
# Timeline 1: ads 0-15, 15-22, 46-54 (30 s); content 22-33, 36-46, 54-64, 74-88 (45 s); buffer 33-36;
# pause 64-74; sessionComplete at 88. Timeline 3 adds chapters 23-45 (playing 23-33, 36-45: 19 s) and
# 55-87 (55-64, 74-87: 22 s). Timeline 2: ads 0-12 and 45-48 (15 s); content 12-32 and 37-45 (28 s);
# the error at 32 stops playback until the play at 37.
TIMELINE_METRICS: dict[str, dict[str, Any]] = {
    "1": {"media_starts": 1, "content_starts": 1, "content_completes": 1, "ad_break_starts": 2, "ad_starts": 3,
          "ad_completes": 3, "ad_time_spent_s": 30, "content_time_spent_s": 45, "media_time_spent_s": 75,
          "pause_events": 1, "total_pause_duration_s": 10, "buffer_events": 1, "total_buffer_duration_s": 3,
          "chapter_starts": 0, "errors": 0,
          "progress_markers": {"10": True, "25": True, "50": True, "75": False, "95": False}},
    "2": {"media_starts": 1, "content_starts": 1, "content_completes": 0, "ad_break_starts": 2, "ad_starts": 2,
          "ad_completes": 1, "ad_time_spent_s": 15, "content_time_spent_s": 28, "media_time_spent_s": 43,
          "pause_events": 0, "buffer_events": 0, "errors": 1, "error_ids": ["MEDIA_ERR_3"],
          "average_bitrate": 10000, "time_to_start_s": 0},
    "3": {"media_starts": 1, "content_starts": 1, "content_completes": 1, "ad_starts": 3, "ad_completes": 3,
          "ad_time_spent_s": 30, "content_time_spent_s": 45, "chapter_starts": 2, "chapter_completes": 2,
          "chapter_time_spent_s": 41, "pause_events": 1, "total_pause_duration_s": 10, "buffer_events": 1},
}


@pytest.mark.parametrize(("name", "play"), [("1", play_timeline_1), ("2", play_timeline_2), ("3", play_timeline_3)])
def test_documented_timelines_posted_as_http_give_the_expected_session_and_metrics(
        client: TestClient, name: str, play: Any) -> None:
    bodies = [to_body(e) for e in play().events]
    sid = post_run(client, bodies)
    detail = client.get(f"/_emulator/sessions/{sid}").json()
    assert [p["body"] for p in detail["processed"]] == bodies  # sent in order: processed as sent
    assert detail["closed"] == (name == "2")  # only timeline 2 ends with sessionEnd
    metrics = metrics_of(client, sid)
    for key, want in TIMELINE_METRICS[name].items():
        got = metrics[key]
        if isinstance(want, int | float) and not isinstance(want, bool):
            assert got == pytest.approx(want, abs=0.02), key
        else:
            assert got == want, key
    segments = detail["timeline"]["segments"]
    kinds = {s["kind"] for s in segments}
    assert {"content", "ad"} <= kinds
    if name == "3":
        assert [c["name"] for c in detail["timeline"]["chapters"]] == ["Chapter Uno", "Chapter Dos"]
        assert {c["outcome"] for c in detail["timeline"]["chapters"]} == {"complete"}


def test_export_is_json_lines_that_replay_as_an_offline_batch(client: TestClient) -> None:
    bodies = [to_body(e) for e in play_timeline_3().events]
    sid = post_run(client, bodies)
    export = client.get(f"/_emulator/sessions/{sid}/export.jsonl")
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in export.headers["content-disposition"]
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert lines == bodies
    replay = post(client, "/api/v1/downloaded", lines)
    assert replay.status_code == 201
    replayed = replay.headers["location"].rsplit("/", 1)[1]
    assert metrics_of(client, replayed) == metrics_of(client, sid)


def test_sequence_mistakes_are_accepted_but_warned_about(client: TestClient) -> None:
    t0 = START["playerTime"]["ts"]
    sid = post_run(client, [
        START,
        {"playerTime": {"playhead": 0, "ts": t0 + 1}, "eventType": "adStart",
         "params": {"media.ad.id": "a", "media.ad.length": 5, "media.ad.podPosition": 1,
                    "media.ad.playerName": "p"}},
        {"playerTime": {"playhead": 0, "ts": t0 + 2}, "eventType": "chapterComplete"},
    ])
    warnings = client.get(f"/_emulator/sessions/{sid}/metrics").json()["warnings"]
    assert any("adStart" in w and "outside an ad break" in w for w in warnings)
    assert any("chapterComplete" in w and "without an open chapter" in w for w in warnings)
