"""The emulator against hostile input, in-process: text that is not valid Unicode, oversized
headers, fault rules that would make invalid HTTP, numbers that overflow, query strings written
in other scripts' digits, other sites' pages and foreign Host names, and a restart in the middle
of the timers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mediacollect import validate_body
from mediacollect_emulator import ServerRules, Store, create_api_app
from mediacollect_emulator._guard import Access, is_loopback
from mediacollect_emulator._schemas import _schema_json, schema_json
from mediacollect_emulator._store import StoreError, op_insert_request, op_open_session, op_set_seq
from tests.emulator.inprocess import JSON, LOCAL, Clock, post_raw, start_session
from tests.helpers import START

# -- text --------------------------------------------------------------------------------------


def _with_surrogate(where: str) -> bytes:
    body = json.loads(json.dumps(START))
    if where == "value":
        body["params"]["media.name"] = "\ud800"
    elif where == "key":
        body["customMetadata"] = {"\udfff": "x"}
    elif where == "eventType":
        body["eventType"] = "session\udbffStart"
    else:
        body["params"]["media.name"] = "ok \\ud800 is only a backslash and letters"
    return json.dumps(body).encode()  # ensure_ascii: the surrogates go on the wire as \\uXXXX escapes


@pytest.mark.parametrize(("where", "field"), [("value", "params.media.name"),
                                              ("key", "customMetadata.\\udfff (the key)"), ("eventType", "eventType")])
def test_a_lone_surrogate_is_a_400_naming_the_field_and_leaves_nothing_behind(client: TestClient, where: str,
                                                                              field: str) -> None:
    response = post_raw(client, "/api/v1/sessions", _with_surrogate(where))
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith(f"request: {field} is not valid Unicode text"), message
    assert client.get("/_emulator/sessions").json() == []  # no open session left behind
    sid = start_session(client)
    play = {"playerTime": {"playhead": 0, "ts": 2}, "eventType": "play", "x\ud83d": 1}
    refused = post_raw(client, f"/api/v1/sessions/{sid}/events", json.dumps(play).encode())
    assert refused.status_code == 400 and "x\\ud83d (the key)" in refused.json()["message"]
    assert client.get("/_emulator/sessions").status_code == 200
    assert client.get(f"/_emulator/sessions/{sid}").status_code == 200
    assert client.get("/_emulator/requests").status_code == 200


def test_escapes_that_are_text_pass(client: TestClient) -> None:
    body = json.loads(json.dumps(START))
    body["params"]["media.name"] = "\U0001f600 and \\ud800 spelt with a backslash"  # a pair; an escaped backslash
    sid = start_session(client)
    assert post_raw(client, "/api/v1/sessions", json.dumps(body).encode()).status_code == 201
    assert client.get(f"/_emulator/sessions/{sid}").status_code == 200
    names = {s["media_name"] for s in client.get("/_emulator/sessions").json()}
    assert body["params"]["media.name"] in names


def test_a_surrogate_already_stored_is_answered_as_an_escape(store: Store, client: TestClient) -> None:
    """Rows written before the decoding boundary existed (or by hand) never make a read fail."""
    store.write_now([op_insert_request(store.new_request_id(), 1.0, "POST", "/x", None, "play", 400, None,
                                       "{}", json.dumps({"a\ud800": 1}), None, None, None)])
    response = client.get("/_emulator/requests")
    assert response.status_code == 200
    assert b'"a\\ud800"' in response.content and response.json()[0]["body"] == {"a\ud800": 1}


# -- bounds ------------------------------------------------------------------------------------


def test_lists_answer_the_newest_rows_up_to_a_default_limit(
        store: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from mediacollect_emulator import _inspection

    monkeypatch.setattr(_inspection, "DEFAULT_LIMIT", 2)
    for path in ("/a", "/b", "/c"):
        store.write_now([op_insert_request(store.new_request_id(), 1.0, "POST", path, None, "play", 400, None,
                                           "{}", "{}", None, None, None)])
    assert [r["path"] for r in client.get("/_emulator/requests").json()] == ["/b", "/c"]
    assert len(client.get("/_emulator/requests?limit=3").json()) == 3


def test_headers_are_bounded_and_so_is_what_a_request_row_keeps(client: TestClient) -> None:
    huge = post_raw(client, "/api/v1/sessions", json.dumps(START).encode(), **{"X-Pad": "a" * 40_000})
    assert huge.status_code == 431 and huge.json() == {"message": "request: headers larger than 32768 bytes"}
    assert client.get("/_emulator/sessions", headers={"X-Pad": "a" * 40_000}).status_code == 431
    long_agent = post_raw(client, "/api/v1/sessions", json.dumps(START).encode(), **{"User-Agent": "u" * 20_000})
    assert long_agent.status_code == 201
    stored = client.get("/_emulator/requests").json()[-1]
    assert len(stored["headers"]["user-agent"]) == 512


def test_the_schema_cache_holds_only_known_event_types(client: TestClient) -> None:
    for index in range(300):
        assert client.get(f"/api/v1/schemas/made-up-{index}").status_code == 404
    assert schema_json("made-up-1") is None
    assert client.get("/api/v1/schemas/play").status_code == 200
    assert _schema_json.cache_info().currsize <= 30


@pytest.mark.parametrize("value", ["١٠", "²", "1e3", "-1", "0", "1" * 30, "", "100001"])
def test_query_numbers_are_ascii_digits_in_range(client: TestClient, value: str) -> None:
    for path in ("/_emulator/sessions", "/_emulator/requests"):
        response = client.get(path, params={"limit": value})
        assert response.status_code == 400, (path, value)
        assert response.json() == {"message": "limit must be an integer from 1 to 100000"}


def test_a_metric_that_overflows_is_null_not_a_500(client: TestClient) -> None:
    body = json.loads(json.dumps(START))
    body["params"]["media.length"] = 5e-324
    body["playerTime"]["playhead"] = 1e308
    sid = str(post_raw(client, "/api/v1/sessions", json.dumps(body).encode()).headers["location"].rsplit("/", 1)[1])
    for ts, kind, playhead in ((2, "play", 1.7e308), (3, "ping", 1.7e308), (4, "sessionEnd", 1.7e308)):
        event = {"playerTime": {"playhead": playhead, "ts": ts}, "eventType": kind}
        assert post_raw(client, f"/api/v1/sessions/{sid}/events", json.dumps(event).encode()).status_code == 204
    for path in ("", "/metrics", "/export.jsonl"):
        assert client.get(f"/_emulator/sessions/{sid}{path}").status_code == 200, path


@pytest.mark.parametrize("key", ["a\n", "a\r", "\na", "caf\u00e9", "\u212a", "", "a b"])
def test_custom_metadata_keys_outside_the_rule_are_refused(client: TestClient, key: str) -> None:
    body = {**START, "customMetadata": {key: "v"}}
    assert validate_body(body)
    response = post_raw(client, "/api/v1/sessions", json.dumps(body).encode())
    assert response.status_code == 400 and "key must match" in response.json()["message"]


# -- fault rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    ({"status": 101}, "fault: status must be an integer from 200 to 599"),
    ({"status": 600}, "fault: status must be an integer from 200 to 599"),
    ({"status": True}, "fault: status must be an integer from 200 to 599"),
    ({"status": 503.0}, "fault: status must be an integer from 200 to 599"),
    ({"statuss": 503}, "fault: unknown field 'statuss'"),
    ({"status": 503, "retry_after": "1\r\nSet-Cookie: a=b"}, "fault: retry_after must be delta-seconds"),
    ({"status": 503, "retry_after": "soon"}, "fault: retry_after must be delta-seconds"),
    ({"status": 503, "retry_after": "Wed, 31 Feb 2026 07:28:00 GMT"}, "fault: retry_after is not a valid HTTP date"),
    ({"count": 0}, "fault: count must be an integer from 1 to 1000000"),
    ({"count": False}, "fault: count must be an integer from 1 to 1000000"),
    ({"delay_ms": -1}, "fault: delay_ms must be an integer from 0 to 60000"),
    ({"endpoint": "everywhere"}, "fault: endpoint must be one of sessions, events, downloaded or null"),
    ({"message": None}, "fault: message must be a string of at most 2000 characters"),
    ({"event_type": "x" * 41}, "fault: event_type must be a string of at most 40 characters or null"),
    ({"drop": 1}, "fault: drop must be true or false"),
    ([], "fault: body must be an object"),
])
def test_fault_rules_that_would_make_invalid_http_are_refused(client: TestClient, spec: Any, message: str) -> None:
    response = client.post("/_emulator/faults", content=json.dumps(spec), headers=JSON)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message), response.json()


def test_bodyless_fault_statuses_carry_no_body_and_retry_after_is_sent_as_given(client: TestClient) -> None:
    for spec in ({"status": 204, "message": "ignored"}, {"status": 304},
                 {"status": 503, "retry_after": "Wed, 21 Oct 2026 07:28:00 GMT"}):
        assert client.post("/_emulator/faults", content=json.dumps(spec), headers=JSON).status_code == 201
        response = post_raw(client, "/api/v1/sessions", json.dumps(START).encode())
        assert response.status_code == spec["status"]
        if spec["status"] in (204, 304):
            assert response.content == b"" and "content-length" not in response.headers
        else:
            assert response.headers["retry-after"] == spec["retry_after"]
    assert client.get("/_emulator/sessions").json() == []  # a faulted 2xx opened nothing


# -- other pages, other names ------------------------------------------------------------------


def test_no_cors_on_the_inspection_api_but_on_the_collection_api(client: TestClient) -> None:
    evil = {"Origin": "http://evil.example"}
    assert "access-control-allow-origin" not in client.get("/_emulator/sessions", headers=evil).headers
    preflight = client.options("/_emulator/reset", headers={**evil, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    api = post_raw(client, "/api/v1/sessions", json.dumps(START).encode(), **evil)
    assert api.status_code == 201 and api.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_state_changes_need_json_and_an_own_origin(client: TestClient, method: str) -> None:
    sid = start_session(client)
    paths = ["/_emulator/reset", f"/_emulator/sessions/{sid}/close", "/_emulator/faults"] if method == "POST" \
        else ["/_emulator/faults"]
    for path in paths:
        no_cors = client.request(method, path, content=b"{}", headers={"Content-Type": "text/plain",
                                                                       "Origin": "http://evil.example"})
        assert no_cors.status_code == 403 and "may not change the emulator's state" in no_cors.json()["message"]
        plain = client.request(method, path, content=b"{}", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415 and "Content-Type must be application/json" in plain.json()["message"]
        for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example:8001", "http://127.0.0.1:8001/x"):
            foreign = client.request(method, path, content=b"{}", headers={**JSON, "Origin": origin})
            assert foreign.status_code == 403, origin
    assert client.get(f"/_emulator/sessions/{sid}").json()["closed"] is False  # nothing changed
    assert client.post("/_emulator/faults", content=b"{}", headers={**JSON, "Origin": "http://localhost:8000"}) \
        .status_code == 201
    assert client.post("/_emulator/reset", headers={**JSON, "Origin": "http://127.0.0.1:8001"}).status_code == 200
    assert client.post("/_emulator/reset", headers=JSON).status_code == 200  # a tool (no Origin)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8001", "127.0.0.1.evil.example", "[::2]:8001",
                                  "127.0.0.1:80x", "0.0.0.0:8001"])
def test_foreign_host_names_are_refused(store: Store, host: str) -> None:
    with TestClient(create_api_app(store), base_url=LOCAL) as client:
        response = client.get("/_emulator/sessions", headers={"Host": host})
        assert response.status_code == 403 and "DNS rebinding" in response.json()["message"]
        assert client.get("/", headers={"Host": host}).status_code == 403
        # The collection API answers every name, as the real one does.
        assert post_raw(client, "/api/v1/sessions", json.dumps(START).encode(), Host=host).status_code == 201


def test_the_access_rules_of_a_binding() -> None:
    access = Access.for_binding("::1", [8001, 8000], extra_hosts=["box.lan"], extra_origins=["http://127.0.0.1:5173"])
    assert access.host_allowed("[::1]:8001") and access.host_allowed("localhost:8001")
    assert access.host_allowed("BOX.lan")
    assert not access.host_allowed("127.0.0.1:8001") and not access.host_allowed("::1")
    assert access.origin_allowed("http://[::1]:8000") and access.origin_allowed("http://127.0.0.1:5173")
    assert not access.origin_allowed("http://[::1]:9999") and not access.origin_allowed("https://[::1]:8000")
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com"))


# -- a restart in the middle of the timers ------------------------------------------------------


def test_timers_and_windows_come_back_the_same_after_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    rules = ServerRules(idle_timeout=600, stall_timeout=1800, window_seconds=5, window_events=10)
    path = tmp_path / "restart.sqlite3"

    def event(client: TestClient, sid: str, kind: str, ts: int, playhead: float) -> int:
        body = {"playerTime": {"playhead": playhead, "ts": ts}, "eventType": kind}
        return int(post_raw(client, f"/api/v1/sessions/{sid}/events", json.dumps(body).encode()).status_code)

    first = Store(path)
    with TestClient(create_api_app(first, rules=rules, clock=clock), base_url=LOCAL) as client:
        stalled, windowed = start_session(client), start_session(client)
        assert event(client, stalled, "play", 2, 5.0) == 204  # the playhead moves once, at t0
        moved_at = clock.now
        for step in range(1, 10):  # then pings every 3 minutes without movement (never idle)
            clock.now += 180
            assert event(client, stalled, "ping", 2 + step, 5.0) == 204
            assert event(client, windowed, "ping", 2 + step, float(step)) == 204
        clock.now += 10
        assert client.get(f"/_emulator/sessions/{windowed}").json()["waiting_in_window"] == 0
        clock.now += 1  # windowed: one event waiting in its reorder window
        assert event(client, windowed, "ping", 100, 50.0) == 204
        waiting_since = clock.now
        assert client.get(f"/_emulator/sessions/{windowed}").json()["waiting_in_window"] == 1
    first.close()

    clock.now += 2  # stopped for 2 s
    second = Store(path)
    try:
        with TestClient(create_api_app(second, rules=rules, clock=clock), base_url=LOCAL) as client:
            detail = client.get(f"/_emulator/sessions/{windowed}").json()
            assert detail["waiting_in_window"] == 1  # the window goes on where it was...
            clock.now = waiting_since + 5  # ...and is over 5 s after that event arrived, not after the restart
            assert client.get(f"/_emulator/sessions/{windowed}").json()["waiting_in_window"] == 0
            clock.now = moved_at + 1800 - 1
            assert client.get(f"/_emulator/sessions/{stalled}").json()["closed"] is False
            clock.now = moved_at + 1800
            closed = client.get(f"/_emulator/sessions/{stalled}").json()
            assert closed["closed"] and closed["closed_reason"] == "playhead unchanged for 1800 s"
    finally:
        second.close()


def test_a_session_name_stored_with_a_lone_surrogate_never_breaks_the_session_list(tmp_path: Path) -> None:
    store = Store(tmp_path / "old.sqlite3")
    body = json.loads(json.dumps(START))
    body["params"]["media.name"] = "\udc00 stored before the boundary"
    request_id = store.new_request_id()
    store.write_now([op_open_session("s" * 64, 1.0, "online", None),
                     op_insert_request(request_id, 1.0, "POST", "/api/v1/sessions", "s" * 64, "sessionStart", 201,
                                       None, "{}", json.dumps(body), 1, 0.0, None),
                     op_set_seq(request_id, 1)])
    try:
        with TestClient(create_api_app(store), base_url=LOCAL) as client:
            listed = client.get("/_emulator/sessions")
            assert listed.status_code == 200 and listed.json()[0]["media_name"] == body["params"]["media.name"]
            assert client.get(f"/_emulator/sessions/{'s' * 64}").status_code == 200
            start_session(client)
            assert len(client.get("/_emulator/sessions").json()) == 2
    finally:
        store.close()


def test_a_session_start_whose_rows_are_not_stored_leaves_no_session(store: Store, client: TestClient,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = store.write

    async def failing_once(ops: Any) -> None:
        monkeypatch.setattr(store, "write", real_write)
        raise StoreError("disk on fire")

    monkeypatch.setattr(store, "write", failing_once)
    response = post_raw(client, "/api/v1/sessions", json.dumps(START).encode())
    assert response.status_code == 500 and response.json() == {"message": "store: disk on fire"}
    assert client.get("/_emulator/sessions").json() == []
    sid = start_session(client)
    assert [s["sid"] for s in client.get("/_emulator/sessions").json()] == [sid]
