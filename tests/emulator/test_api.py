"""The emulator's API in-process (Starlette TestClient): status codes, headers, read-back."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from mediacollect_emulator import Store, create_api_app
from tests.emulator.inprocess import JSON, LOCAL, post, start_session
from tests.helpers import START

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "OPTIONS,POST,PUT",
    "access-control-allow-headers": "Content-Type",
    "access-control-expose-headers": "Location",
}


def test_session_start_201_with_location_and_cors(client: TestClient) -> None:
    response = post(client, "/api/v1/sessions", START, Origin="http://127.0.0.1:8000")
    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["location"]
    assert location.startswith("/api/v1/sessions/")
    sid = location.rsplit("/", 1)[1]
    assert re.fullmatch("[0-9a-f]{64}", sid)  # 256 bits from secrets, as hex
    for name, value in CORS.items():
        assert response.headers[name] == value


def test_preflight(client: TestClient) -> None:
    response = client.options("/api/v1/sessions", headers={
        "Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-headers"] == "Content-Type"
    assert response.headers["access-control-max-age"] == "600"


def test_without_expose_location(store: Store) -> None:
    with TestClient(create_api_app(store, expose_location=False), base_url=LOCAL) as client:
        response = post(client, "/api/v1/sessions", START)
    assert response.status_code == 201 and "location" in response.headers
    assert "access-control-expose-headers" not in response.headers


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"{", "application/json", 400, "request: body is not valid JSON (JSONDecodeError)"),
        (b"[]", "application/json", 400, "request: an offline batch must hold at least a sessionStart"),
        (b'"play"', "application/json", 400, "request: body must be a JSON object"),
        (b'{"n": 1e999}', "application/json", 400, "request: number 1e999 is too large for a double"),
        (json.dumps(START).encode(), "text/plain", 400, "request: Content-Type must be application/json"),
        (b'{"playerTime": {"playhead": NaN, "ts": 1}}', "application/json", 400,
         "request: body is not valid JSON (NaN is not a JSON number)"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "application/json", 400, "request: JSON nested deeper than 32 levels"),
        (b'{"n": ' + b"9" * 5000 + b"}", "application/json", 400,
         "request: number 999999999999999999999999... is too large (integers have at most 19 digits)"),
        (b"\xff\xfe", "application/json", 400, "request: body is not valid JSON (UnicodeDecodeError)"),
        (b'{"x": "' + b"a" * 70000 + b'"}', "application/json", 413, "request: body larger than 65536 bytes"),
        (json.dumps({**START, "eventType": "play"}).encode(), "application/json", 400,
         "play: eventType must be 'sessionStart' on this endpoint"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client: TestClient, content: bytes, content_type: str, status: int,
                                           message: str) -> None:
    response = client.post("/api/v1/sessions", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.json() == {"message": message}
    assert response.headers["access-control-allow-origin"] == "*"


def test_events_204_404_410_and_read_back(client: TestClient) -> None:
    sid = start_session(client)
    play = {"playerTime": {"playhead": 0, "ts": 2}, "eventType": "play"}
    assert post(client, f"/api/v1/sessions/{sid}/events", play).status_code == 204
    assert post(client, "/api/v1/sessions/nope/events", play).status_code == 404
    bad = post(client, f"/api/v1/sessions/{sid}/events", {**play, "params": {"x": 1}})
    assert bad.status_code == 400 and bad.json() == {"message": "play: params.x is not a known parameter of this event"}
    start_again = post(client, f"/api/v1/sessions/{sid}/events", START)
    assert start_again.status_code == 400
    end = {"playerTime": {"playhead": 0, "ts": 3}, "eventType": "sessionEnd"}
    assert post(client, f"/api/v1/sessions/{sid}/events", end).status_code == 204
    assert post(client, f"/api/v1/sessions/{sid}/events", end).status_code == 204  # idempotent
    gone = post(client, f"/api/v1/sessions/{sid}/events", play)
    assert gone.status_code == 410 and gone.json() == {"message": "the session is closed (sessionEnd received)"}

    listed = client.get("/_emulator/sessions").json()
    assert [(s["sid"], s["closed"]) for s in listed] == [(sid, True)]
    detail = client.get(f"/_emulator/sessions/{sid}").json()
    assert [e["event_type"] for e in detail["events"]] == ["sessionStart", "play", "sessionEnd", "sessionEnd"]
    assert detail["events"][0]["body"] == START
    assert [r["status"] for r in detail["rejected"]] == [400, 400, 410]
    assert client.get("/_emulator/sessions/unknown").status_code == 404
    assert len(client.get("/_emulator/requests").json()) == 8


def test_faults_are_scripted_and_consumed(client: TestClient) -> None:
    assert client.post("/_emulator/faults", json={"status": 503, "count": 2, "endpoint": "sessions",
                                                  "retry_after": "3"}).status_code == 201
    first = post(client, "/api/v1/sessions", START)
    assert first.status_code == 503 and first.headers["retry-after"] == "3"
    assert post(client, "/api/v1/sessions", START).status_code == 503
    assert post(client, "/api/v1/sessions", START).status_code == 201
    assert client.post("/_emulator/faults", json={"status": 99}).status_code == 400
    assert client.post("/_emulator/faults", json={"count": "x"}).status_code == 400
    assert client.post("/_emulator/faults", json={"nonsense": 1}).status_code == 400
    client.post("/_emulator/faults", json={"status": 500})
    assert client.delete("/_emulator/faults", headers=JSON).json() == {"faults": 0}
    assert client.post("/_emulator/reset", headers=JSON).json() == {"reset": True}
    assert client.get("/_emulator/sessions").json() == []


def test_server_side_close_then_410(client: TestClient) -> None:
    sid = start_session(client)
    assert client.post(f"/_emulator/sessions/{sid}/close", headers=JSON).json() == {"closed": sid}
    play = {"playerTime": {"playhead": 0, "ts": 2}, "eventType": "play"}
    assert post(client, f"/api/v1/sessions/{sid}/events", play).status_code == 410
    assert client.post("/_emulator/sessions/nope/close", headers=JSON).status_code == 404
