"""Fuzzing a real emulator process: 10,000 generated requests, never a 5xx, never a crash.

Bodies are near-valid events (a valid body with a few mutations, the generator of
test_schemas), arbitrary JSON documents, offline batches and raw bytes, sent with right and wrong
content types to every collection endpoint over one keep-alive connection. Afterwards the
process must still be running, still serve a normal session, and have logged no traceback.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.test_rules import START
from tests.emulator.test_schemas import bodies
from tests.helpers import Emulator, start_emulator, stop_emulator

BATCHES = 200
PER_BATCH = 50  # 200 x 50 = 10,000 requests
ALLOWED = {201, 204, 400, 404, 405, 410, 413}

json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes]:
    kind = draw(st.sampled_from(["event", "event", "event", "json", "batch", "bytes"]))
    path = draw(st.sampled_from(["/api/v1/sessions", "/api/v1/sessions/{sid}/events", "/api/v1/sessions/{sid}/events",
                                 "/api/v1/downloaded", "/api/v1/sessions/unknown/events"]))
    content_type = draw(st.sampled_from(["application/json"] * 8 + ["text/plain", "application/json; charset=utf-8",
                                                                     ""]))
    body: Any
    if kind == "event":
        raw = json.dumps(draw(bodies())).encode()
    elif kind == "json":
        raw = json.dumps(draw(json_documents)).encode()
    elif kind == "batch":
        body = [START, *draw(st.lists(bodies(), max_size=4))]
        raw = json.dumps(body).encode()
    else:
        raw = draw(st.one_of(st.binary(max_size=64), st.sampled_from([
            b"NaN", b'{"a": Infinity}', b"1e999", b"-" + b"9" * 40, b"[" * 100 + b"]" * 100, b'{"a":' * 50 + b"1",
            b"\xff\xfe\x00", b"{}" * 1000])))
    return path, content_type, raw


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, http.client.HTTPConnection, str]]:
    emulator = start_emulator(tmp_path_factory.mktemp("fuzz"), "--no-site", "--log-level", "warning")
    connection = http.client.HTTPConnection("127.0.0.1", emulator.api_port, timeout=10)
    sid = send(connection, "/api/v1/sessions", "application/json", json.dumps(START).encode())[1]
    yield emulator, connection, sid
    connection.close()
    stop_emulator(emulator)


def send(connection: http.client.HTTPConnection, path: str, content_type: str, raw: bytes) -> tuple[int, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    connection.request("POST", path, body=raw, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    location = response.getheader("Location") or ""
    assert response.status in ALLOWED, (response.status, path, raw[:200], payload[:200])
    if response.status >= 400:
        assert json.loads(payload)["message"], payload  # every refusal says why
    return response.status, location.rsplit("/", 1)[-1]


counted = {"requests": 0}


@settings(max_examples=BATCHES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(st.lists(requests(), min_size=PER_BATCH, max_size=PER_BATCH))
def test_ten_thousand_generated_requests_never_get_a_5xx(
        fuzzed: tuple[Emulator, http.client.HTTPConnection, str], batch: list[tuple[str, str, bytes]]) -> None:
    _, connection, sid = fuzzed
    for path, content_type, raw in batch:
        send(connection, path.replace("{sid}", sid), content_type, raw)
        counted["requests"] += 1


def test_after_fuzzing_the_process_still_serves(fuzzed: tuple[Emulator, http.client.HTTPConnection, str],
                                                tmp_path: Path) -> None:
    emulator, connection, _ = fuzzed
    assert counted["requests"] >= BATCHES * PER_BATCH
    assert emulator.process.poll() is None
    status, sid = send(connection, "/api/v1/sessions", "application/json", json.dumps(START).encode())
    assert status == 201
    play = {"playerTime": {"playhead": 0, "ts": START["playerTime"]["ts"] + 1}, "eventType": "play"}
    assert send(connection, f"/api/v1/sessions/{sid}/events", "application/json", json.dumps(play).encode())[0] == 204
    assert "Traceback" not in emulator.log()
