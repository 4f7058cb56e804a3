"""Fuzzing a real emulator process while valid players use it: every valid request gets its 2xx,
every invalid one a 4xx with a message, the inspection API keeps answering 200.

Generated requests (``BATCHES`` x ``PER_BATCH``, at least 10,000; ``bench/emulator_fuzz.py``
runs more) are sent over one keep-alive connection, and each answer is checked against an oracle
that knows what the server must say:

* bodies: near-valid events (the generator of test_schemas) with strings and keys replaced by
  text from the whole Unicode range, lone surrogates included (sent as JSON escapes, or as raw
  bytes that are not UTF-8), arbitrary JSON documents, offline batches, raw bytes;
* content types, extra headers of every size (431 past the bound), query strings and path
  segments in any script (the inspection API and the schema endpoint);
* meanwhile two players post valid viewings on their own connections and read the inspection
  API back every few events: every one of their answers must be a success.

Fault rules are fuzzed on an emulator of their own (a fault applies to whatever request matches
it, the players' too): each generated rule is accepted or refused exactly as the rules say, and
whatever an accepted one makes the emulator answer is still valid HTTP.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mediacollect import rules, validate_body
from tests.emulator.strategies import bodies
from tests.helpers import START, Emulator, start_emulator, stop_emulator

# MEDIACOLLECT_FUZZ_BATCHES raises the count (bench/emulator_fuzz.py); CI runs 10,000 cases.
BATCHES = int(os.environ.get("MEDIACOLLECT_FUZZ_BATCHES", "200"))
PER_BATCH = 50
FAULT_CASES = int(os.environ.get("MEDIACOLLECT_FUZZ_FAULTS", "300"))
SAME_CASES = "MEDIACOLLECT_FUZZ_RANDOM" not in os.environ  # CI: the same cases on every run
MAX_HEADER_BYTES = 32 * 1024
T0 = START["playerTime"]["ts"]

any_text = st.text(st.characters(), max_size=8)  # every code point, surrogates included
json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)


def has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    return False


def too_long_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return len(str(abs(value))) > 19
    if isinstance(value, dict):
        return any(too_long_integer(v) for v in value.values())
    if isinstance(value, list):
        return any(too_long_integer(v) for v in value)
    return False


@st.composite
def unicode_bodies(draw: st.DrawFn) -> Any:
    """A near-valid body with some of its strings, keys or its eventType replaced by any text."""
    body = draw(bodies())
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(["eventType", "value", "key", "metadata"]))
        text = draw(any_text)
        if target == "eventType":
            body["eventType"] = draw(st.sampled_from([text, body["eventType"] + text]))
        elif target == "metadata":
            body["customMetadata"] = {text: draw(any_text)}
        elif isinstance(body.get("params"), dict) and body["params"]:
            key = draw(st.sampled_from(sorted(body["params"])))
            if target == "value":
                body["params"][key] = text
            else:
                body["params"][key + text] = body["params"].pop(key)
    return body


@dataclass
class Case:
    kind: str  # body | bytes | headers | query | schema
    route: str = "events"  # sessions | events | downloaded | unknown
    content_type: str = "application/json"
    body: Any = None
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""


@st.composite
def cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(["body"] * 6 + ["batch", "bytes", "headers", "query", "schema"]))
    route = draw(st.sampled_from(["sessions", "events", "events", "events", "downloaded", "unknown"]))
    content_type = draw(st.sampled_from(["application/json"] * 10 + ["text/plain", "application/json; charset=utf-8",
                                                                      "", "application/jsonx"]))
    if kind == "body":
        body = draw(st.one_of(unicode_bodies(), unicode_bodies(), json_documents))
        raw_surrogates = has_surrogate(body) and draw(st.booleans())
        raw = json.dumps(body, ensure_ascii=not raw_surrogates).encode("utf-8", "surrogatepass")
        return Case(kind, route, content_type, body, raw)
    if kind == "batch":
        body = [draw(st.sampled_from([START, {**START, "params": {**START["params"], "media.downloaded": True}}])),
                *draw(st.lists(unicode_bodies(), max_size=4))]
        route = draw(st.sampled_from(["sessions", "downloaded"]))
        return Case(kind, route, content_type, body, json.dumps(body).encode())
    if kind == "bytes":
        raw = draw(st.one_of(st.binary(max_size=64), st.sampled_from([
            b"NaN", b'{"a": Infinity}', b"1e999", b"-" + b"9" * 40, b"[" * 100 + b"]" * 100, b'{"a":' * 50 + b"1",
            b"\xff\xfe\x00", b"{}" * 1000, b'"\xed\xa0\x80"', b'{"eventType": "\\udfff"}'])))
        return Case(kind, route, content_type, raw=raw)
    if kind == "headers":
        size = draw(st.sampled_from(["small", "small", "small", "huge"]))
        names = st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True)
        values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
        headers = draw(st.dictionaries(names, values, max_size=5))
        if size == "huge":
            headers["X-Pad"] = "p" * draw(st.integers(MAX_HEADER_BYTES + 100, 3 * MAX_HEADER_BYTES))
        if draw(st.booleans()):
            headers["Origin"] = draw(st.sampled_from(["http://evil.example", "null", "http://127.0.0.1:8000"]))
        if draw(st.booleans()):
            headers["User-Agent"] = "u" * draw(st.integers(0, 4000))
        return Case(kind, "events", "application/json", headers=headers)
    if kind == "query":
        where = draw(st.sampled_from(["/_emulator/sessions", "/_emulator/requests", "/_emulator/sessions/{text}",
                                      "/_emulator/sessions/{text}/metrics", "/_emulator/config"]))
        limit = draw(st.one_of(st.integers(-5, 50).map(str), any_text,
                               st.sampled_from(["١٠", "²", "５", "1e3", " 1", "0x10", "10", "100001", "0" * 7 + "1"])))
        extra = draw(st.dictionaries(any_text, any_text, max_size=2))
        query = "&".join(f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}"
                         for k, v in {**extra, "limit": limit}.items())
        segment = quote(draw(any_text).encode("utf-8", "surrogatepass"), safe="") or "x"
        return Case(kind, path=where.replace("{text}", segment) + "?" + query, body=limit)
    name = draw(st.one_of(st.sampled_from(rules.EVENT_TYPES), any_text))
    return Case(kind, path="/api/v1/schemas/" + (quote(name.encode("utf-8", "surrogatepass"), safe="") or "x"),
                body=name)


def expected_statuses(route: str, body: Any, session_closed: bool) -> set[int]:
    """What the server must answer a decodable body of valid JSON posted to ``route``."""
    if has_surrogate(body) or too_long_integer(body):
        return {400}
    if route == "unknown":
        return {404}
    if route == "events":
        if validate_body(body) or body["eventType"] == "sessionStart":
            return {400}
        if session_closed:
            return {204} if body["eventType"] == "sessionEnd" else {410}
        return {204}
    if isinstance(body, list):
        if not body or len(body) > 20_000:
            return {400}
        if route == "sessions" and not (isinstance(body[0], dict) and isinstance(body[0].get("params"), dict)
                                        and body[0]["params"].get("media.downloaded") is True):
            return {400}
        if validate_body(body[0], expected_event_type="sessionStart"):
            return {400}
        if any(validate_body(event) or event["eventType"] == "sessionStart" for event in body[1:]):
            return {400}
        return {201}
    if route == "downloaded" or validate_body(body, expected_event_type="sessionStart"):
        return {400}
    return {400} if body["params"].get("media.downloaded") is True else {201}


def exchange(connection: http.client.HTTPConnection, method: str, path: str, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection.request(method, path, body=raw, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def assert_message(status: int, payload: bytes, context: object) -> None:
    """A refusal says why: a JSON object with a non-empty message."""
    assert 400 <= status < 500, (status, context, payload[:300])
    message = json.loads(payload)["message"]
    assert isinstance(message, str) and message, (status, context, payload[:300])


class Players(threading.Thread):
    """A valid viewer posting on its own connection for as long as the fuzz runs, starting a new
    session every 100 events and reading the inspection API back every 20. Paced by the fuzz:
    the players together send about one event per generated case (``tokens``), so they play
    concurrently the whole time without taking the emulator's CPU from the cases."""

    def __init__(self, port: int, tokens: threading.Semaphore) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.tokens = tokens
        self.stop = threading.Event()
        self.events = 0
        self.inspections = 0
        self.problems: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        json_type = {"Content-Type": "application/json"}
        try:
            while not self.stop.is_set():
                status, headers, payload = exchange(connection, "POST", "/api/v1/sessions",
                                                    json.dumps(START).encode(), json_type)
                if status != 201:
                    self.problems.append(f"sessionStart: {status} {payload[:200]!r}")
                    return
                events = headers["location"] + "/events"
                sid = headers["location"].rsplit("/", 1)[1]
                for step in range(1, 101):
                    while not self.tokens.acquire(timeout=0.1):
                        if self.stop.is_set():
                            return
                    kind = "sessionEnd" if step == 100 else ("play" if step == 1 else "ping")
                    body = {"playerTime": {"playhead": float(step), "ts": T0 + step * 1000}, "eventType": kind}
                    status, _, payload = exchange(connection, "POST", events, json.dumps(body).encode(), json_type)
                    self.events += 1
                    if status != 204:
                        self.problems.append(f"{kind}: {status} {payload[:200]!r}")
                    if step % 20 == 0:
                        for path in ("/_emulator/sessions?limit=20", f"/_emulator/sessions/{sid}",
                                     f"/_emulator/sessions/{sid}/metrics", "/_emulator/stats"):
                            status, _, payload = exchange(connection, "GET", path)
                            self.inspections += 1
                            if status != 200:
                                self.problems.append(f"GET {path}: {status} {payload[:200]!r}")
                    if self.stop.is_set():
                        return
        except (OSError, http.client.HTTPException, ValueError) as err:
            self.problems.append(repr(err))
        finally:
            connection.close()


@dataclass
class Lane:
    """One keep-alive connection sending cases, with the session its event cases go to."""

    connection: http.client.HTTPConnection
    tokens: threading.Semaphore
    sid: str = ""
    closed: bool = False


@dataclass
class Fuzzed:
    emulator: Emulator
    lanes: list[Lane]  # two, so one lane's wait for its answer overlaps the other's work
    players: list[Players]
    counted: int = 0


def new_session(connection: http.client.HTTPConnection) -> str:
    status, headers, _ = exchange(connection, "POST", "/api/v1/sessions", json.dumps(START).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 201
    return headers["location"].rsplit("/", 1)[1]


@pytest.fixture
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    # Commits at once instead of gathering for 2 ms: the cases are sent one after the other.
    emulator = start_emulator(tmp_path_factory.mktemp("fuzz"), "--no-site", "--log-level", "warning",
                              "--commit-interval", "0")
    tokens = threading.Semaphore(0)
    lanes = []
    for _ in range(2):
        connection = http.client.HTTPConnection("127.0.0.1", emulator.api_port, timeout=30)
        lanes.append(Lane(connection, tokens, new_session(connection)))
    players = [Players(emulator.api_port, tokens) for _ in range(2)]
    for player in players:
        player.start()
    yield Fuzzed(emulator, lanes, players)
    for player in players:
        player.stop.set()
    for player in players:
        player.join(30)
    for lane in lanes:
        lane.connection.close()
    stop_emulator(emulator)


def send(state: Lane, case: Case) -> None:
    state.tokens.release()  # one player event per case
    connection = state.connection
    if case.kind in ("query", "schema"):
        status, headers, payload = exchange(connection, "GET", case.path)
        if case.kind == "schema":
            assert status == (200 if case.body in rules.EVENT_TYPES else 404), (case.path, status, payload[:200])
        else:
            limit = case.body
            valid = re.fullmatch(r"[0-9]{1,6}", limit) is not None and 1 <= int(limit) <= 100_000
            expected = {404} if "/sessions/" in case.path else {200 if valid or "config" in case.path else 400}
            if "%2F" in case.path.split("?")[0]:  # a slash in the segment: maybe a redirect to the path without it
                expected.add(307)
            assert status in expected, (case.path, status, payload[:200])
        if status >= 400:
            assert_message(status, payload, case.path)
        elif status == 200:
            json.loads(payload)
        return
    if state.closed:
        state.sid, state.closed = new_session(connection), False
    path = {"sessions": "/api/v1/sessions", "events": f"/api/v1/sessions/{state.sid}/events",
            "downloaded": "/api/v1/downloaded", "unknown": "/api/v1/sessions/unknown/events"}[case.route]
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    if case.kind == "headers":
        headers.update(case.headers)
        body = {"playerTime": {"playhead": 1.0, "ts": T0 + 1}, "eventType": "ping"}
        status, _, payload = exchange(connection, "POST", path, json.dumps(body).encode(), headers)
        too_big = sum(len(k) + len(v) + 4 for k, v in case.headers.items()) > MAX_HEADER_BYTES
        assert status == (431 if too_big else 204), (status, payload[:200], {k: len(v) for k, v in headers.items()})
        if too_big:
            assert_message(status, payload, "headers")
        return
    status, _, payload = exchange(connection, "POST", path, case.raw, headers)
    context = (case.kind, path, headers, case.raw[:300])
    if case.kind == "bytes" or (case.kind != "batch" and case.raw != json.dumps(case.body).encode()
                                and not has_surrogate(case.body)):
        expected = None  # raw bytes: the oracle does not decode them; any refusal must say why
    elif case.content_type.split(";")[0] != "application/json":
        expected = {400}
    elif case.raw != json.dumps(case.body).encode():
        expected = {400}  # a surrogate sent as raw bytes: not UTF-8
    else:
        expected = expected_statuses(case.route, case.body, state.closed)
    if expected is None:
        assert status in (201, 204, 400, 404, 410, 413), context
    else:
        assert status in expected, (status, expected, context, payload[:300])
    if status >= 400:
        assert_message(status, payload, context)
    if case.route == "events" and status == 204 and isinstance(case.body, dict) \
            and case.body.get("eventType") == "sessionEnd":
        state.closed = True


LANE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz-lane")


# No shrinking: the server's state carries from case to case, so a smaller batch does not
# reproduce a failure any better; the failing case itself is in the assertion message.
@settings(max_examples=BATCHES, deadline=None, derandomize=SAME_CASES, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(cases(), min_size=PER_BATCH, max_size=PER_BATCH))
def fuzz_batch(fuzzed: Fuzzed, batch: list[Case]) -> None:
    def run(lane: Lane, cases: list[Case]) -> None:
        for case in cases:
            send(lane, case)

    other = LANE.submit(run, fuzzed.lanes[1], batch[1::2])
    run(fuzzed.lanes[0], batch[0::2])
    other.result()
    fuzzed.counted += len(batch)


def test_generated_requests_get_exactly_their_answer_while_players_play(fuzzed: Fuzzed) -> None:
    """The batches, then what the players and the log say about the whole run (one test: the
    verdict on the players means nothing without the fuzzing before it)."""
    fuzz_batch(fuzzed)
    assert fuzzed.counted >= BATCHES * PER_BATCH >= 10_000 or "MEDIACOLLECT_FUZZ_BATCHES" in os.environ
    for player in fuzzed.players:
        assert player.is_alive() and not player.problems, player.problems[:5]
        assert player.events > BATCHES * PER_BATCH // 4 and player.inspections > BATCHES * PER_BATCH // 100
    assert fuzzed.emulator.process.poll() is None
    log = fuzzed.emulator.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


# -- fault rules -------------------------------------------------------------------------------

FIELDS = ("status", "count", "event_type", "endpoint", "message", "retry_after", "delay_ms", "drop")


def fault_is_valid(spec: Any) -> bool:
    """The rules a fault rule must meet, written independently of the emulator's parser."""
    if not isinstance(spec, dict) or set(spec) - set(FIELDS) or has_surrogate(spec):
        return False

    def integer(name: str, low: int, high: int) -> bool:
        value = spec.get(name)
        return name not in spec or (type(value) is int and low <= value <= high)

    def text(name: str, longest: int, nullable: bool = True) -> bool:
        value = spec.get(name)
        return name not in spec or (value is None and nullable) or (isinstance(value, str) and len(value) <= longest)

    retry = spec.get("retry_after")
    retry_ok = retry is None or (isinstance(retry, str) and (
        re.fullmatch(r"[0-9]{1,9}", retry) is not None or retry in ("Wed, 21 Oct 2026 07:28:00 GMT",)))
    return ((spec.get("status") is None or integer("status", 200, 599)) and integer("count", 1, 1_000_000)
            and integer("delay_ms", 0, 60_000) and text("event_type", 40) and text("message", 2000, nullable=False)
            and text("retry_after", 40) and retry_ok
            and spec.get("endpoint") in (None, "sessions", "events", "downloaded")
            and ("drop" not in spec or isinstance(spec["drop"], bool)))


fault_values: dict[str, st.SearchStrategy[Any]] = {
    "status": st.one_of(st.none(), st.integers(95, 605), st.sampled_from([True, 204.0, "503", 101, 204, 304, 205])),
    "count": st.one_of(st.integers(-1, 3), st.sampled_from([False, 1.0, "1", 10**7])),
    "event_type": st.one_of(st.none(), st.sampled_from(["play", "ping", "sessionStart", "x" * 41]), any_text),
    "endpoint": st.one_of(st.none(), st.sampled_from(["sessions", "events", "downloaded", "schemas", ""]), any_text),
    "message": st.one_of(any_text, st.none(), st.integers(), st.just("m" * 2001)),
    "retry_after": st.one_of(st.none(), st.integers(0, 5).map(str), any_text, st.sampled_from([
        "1\r\nSet-Cookie: a=b", "3\n", "1" * 10, "Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 32 Oct 2026 07:28:00 GMT", 3])),
    "delay_ms": st.one_of(st.sampled_from([0, 1, -1, 60_001, 1.5, "2", None])),
    "drop": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", None])),
}
fault_specs = st.one_of(
    st.fixed_dictionaries({}, optional=fault_values),
    st.fixed_dictionaries({}, optional={**fault_values, "unknown": st.integers()}),
    st.fixed_dictionaries({}, optional={"statuss": st.integers(), "retry-after": st.text(max_size=3)}),
    json_documents,
)


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """One request on a fresh connection, the answer parsed strictly by hand (None: the
    connection was cut, a drop fault)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        match = re.fullmatch(r"HTTP/1\.1 ([2-5][0-9]{2}) ?[^\r\n]*", lines[0])
        assert match, lines[0]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            assert colon and re.fullmatch(r"[A-Za-z0-9-]+", name) and "\r" not in value and "\n" not in value, line
            assert name.lower() not in headers, f"header {name} twice: {lines}"
            headers[name.lower()] = value.strip()
        status = int(match.group(1))
        if status in (204, 304):
            assert "content-length" not in headers and "transfer-encoding" not in headers, headers
            return status, headers, b""
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return status, headers, rest[:length]


def http_post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


@pytest.fixture
def faults_emulator(tmp_path: Path) -> Iterator[Emulator]:
    emulator = start_emulator(tmp_path, "--no-site", "--log-level", "warning")
    yield emulator
    stop_emulator(emulator)


@settings(max_examples=FAULT_CASES, deadline=None, derandomize=SAME_CASES, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(fault_specs)
def fault_rule(port: int, spec: Any) -> None:
    posted = raw_exchange(port, http_post("/_emulator/faults", json.dumps(spec).encode()))
    assert posted is not None
    status, _, payload = posted
    valid = fault_is_valid(spec)
    assert status == (201 if valid else 400), (spec, status, payload[:300])
    if not valid:
        assert_message(status, payload, spec)
        return
    try:
        endpoint = spec.get("endpoint") or "sessions"
        body = dict(START)
        if spec.get("event_type") is not None:
            body["eventType"] = spec["event_type"]
        path = {"sessions": "/api/v1/sessions", "events": "/api/v1/sessions/nope/events",
                "downloaded": "/api/v1/downloaded"}[endpoint]
        answer = raw_exchange(port, http_post(path, json.dumps(body).encode()))
        if spec.get("drop") is True:
            assert answer is None or answer[0] == 200
            return
        assert answer is not None, spec
        got, headers, payload = answer
        if spec.get("status") is not None:
            assert got == spec["status"], (spec, got)
            if spec.get("retry_after") is not None:
                assert headers["retry-after"] == spec["retry_after"]
        if got not in (204, 304) and payload:
            json.loads(payload)
    finally:
        raw = b"DELETE /_emulator/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
              b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        deleted = raw_exchange(port, raw)
        assert deleted is not None and deleted[0] == 200


def test_fault_rules_are_checked_strictly_and_always_make_valid_http(faults_emulator: Emulator) -> None:
    fault_rule(faults_emulator.api_port)
    assert faults_emulator.process.poll() is None
    log = faults_emulator.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
