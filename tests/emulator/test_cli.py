"""The emulator as a person runs it: --help, loopback by default, stops on SIGTERM, keeps data."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mediacollect_emulator.__main__ import GC_THRESHOLD
from tests.helpers import ROOT, START, raw_post, start_emulator, stop_emulator


def test_help_lists_the_options() -> None:
    result = subprocess.run([sys.executable, "-m", "mediacollect_emulator", "--help"], capture_output=True,
                            text=True, check=True, cwd=ROOT)
    for option in ("--host", "--api-port", "--site-port", "--db", "--commit-interval", "--no-expose-location",
                   "--site-root", "--time-scale", "--idle-timeout", "--stall-timeout", "--reorder-window",
                   "--reorder-events", "--forward", "--log-format"):
        assert option in result.stdout


def test_it_binds_loopback_and_a_named_database_survives_a_restart(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path)
    try:
        assert "Demo page: http://127.0.0.1:" in emulator.log()
        request = urllib.request.Request(emulator.endpoint + "/api/v1/sessions", data=json.dumps(START).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        sid = emulator.get("/_emulator/sessions")[0]["sid"]
    finally:
        stop_emulator(emulator)
    assert emulator.process.returncode == 0, emulator.log()
    db = tmp_path / f"emulator-{emulator.api_port}.sqlite3"
    restarted = start_emulator(tmp_path, "--db", str(db))
    try:
        assert [s["sid"] for s in restarted.get("/_emulator/sessions")] == [sid]
    finally:
        stop_emulator(restarted)


def post(endpoint: str, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def test_bad_options_name_the_rule() -> None:
    result = subprocess.run([sys.executable, "-m", "mediacollect_emulator", "--time-scale", "0"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 2 and "time_scale must be greater than 0" in result.stderr
    result = subprocess.run([sys.executable, "-m", "mediacollect_emulator", "--forward", "ftp://x"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "--forward must be an http:// or https:// URL" in result.stderr
    result = subprocess.run([sys.executable, "-m", "mediacollect_emulator", "--commit-interval", "-1"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "--commit-interval must be between 0 and 1000 ms" in result.stderr


def test_time_scale_and_json_request_logs(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path, "--no-site", "--time-scale", "600", "--log-format", "json")
    try:
        status, headers, _ = post(emulator.endpoint, "/api/v1/sessions", START)
        assert status == 201
        sid = headers["location"].rsplit("/", 1)[1]
        deadline = time.monotonic() + 10
        while not emulator.get(f"/_emulator/sessions/{sid}")["closed"]:  # 10 emulated minutes = 1 s
            assert time.monotonic() < deadline, "the idle timeout did not close the session"
            time.sleep(0.2)
        assert emulator.get(f"/_emulator/sessions/{sid}")["closed_reason"] == "no events for 600 s"
        play = {"playerTime": {"playhead": 0, "ts": START["playerTime"]["ts"] + 1}, "eventType": "play"}
        assert post(emulator.endpoint, f"/api/v1/sessions/{sid}/events", play)[0] == 410
    finally:
        stop_emulator(emulator)
    lines = [json.loads(line) for line in emulator.log().splitlines() if line.startswith("{")]
    requests = [line for line in lines if "status" in line]
    assert [(r["method"], r["status"], r.get("event")) for r in requests] == [
        ("POST", 201, "sessionStart"), ("POST", 410, "play")]
    assert requests[1]["message"] == "the session is closed (no events for 600 s)"
    assert all(isinstance(r["ms"], float | int) for r in requests)


@pytest.fixture
def upstream_and_proxy(tmp_path: Path) -> Any:
    (tmp_path / "upstream").mkdir()
    upstream = start_emulator(tmp_path / "upstream", "--no-site")
    proxy = start_emulator(tmp_path, "--no-site", "--forward", upstream.endpoint)
    yield upstream, proxy
    stop_emulator(proxy)
    stop_emulator(upstream)


def test_forward_mode_validates_records_and_passes_requests_on(upstream_and_proxy: Any) -> None:
    upstream, proxy = upstream_and_proxy
    status, headers, _ = post(proxy.endpoint, "/api/v1/sessions", START)
    assert status == 201
    ours = headers["location"].rsplit("/", 1)[1]
    play = {"playerTime": {"playhead": 0, "ts": START["playerTime"]["ts"] + 1}, "eventType": "play"}
    assert post(proxy.endpoint, f"/api/v1/sessions/{ours}/events", play)[0] == 204
    # Invalid here is refused here, and never reaches the upstream.
    bad = post(proxy.endpoint, f"/api/v1/sessions/{ours}/events", {**play, "params": {"x": 1}})
    assert bad[0] == 400 and b"params.x is not a known parameter" in bad[2]

    [theirs] = upstream.get("/_emulator/sessions")
    upstream_events = upstream.get(f"/_emulator/sessions/{theirs['sid']}")["events"]
    assert [e["body"] for e in upstream_events] == [START, play]
    local = proxy.get(f"/_emulator/sessions/{ours}")
    assert local["upstream_sid"] == theirs["sid"]
    assert [(e["event_type"], e["upstream_status"]) for e in local["events"]] == [("sessionStart", 201), ("play", 204)]

    # The upstream's verdicts reach the client: a session it closed answers 410 through the proxy.
    upstream.post(f"/_emulator/sessions/{theirs['sid']}/close")
    gone = post(proxy.endpoint, f"/api/v1/sessions/{ours}/events", {**play, "eventType": "ping"})
    assert gone[0] == 410 and b"upstream:" in gone[2]
    assert proxy.get(f"/_emulator/sessions/{ours}")["closed_reason"] == "the upstream answered 410"


def test_forward_mode_answers_502_when_the_upstream_is_down(tmp_path: Path) -> None:
    proxy = start_emulator(tmp_path, "--no-site", "--forward", "http://127.0.0.1:9")
    try:
        status, _, body = post(proxy.endpoint, "/api/v1/sessions", START)
        assert status == 502 and b"forward:" in body and b"unreachable" in body
        assert proxy.get("/_emulator/sessions") == []
    finally:
        stop_emulator(proxy)


def read_responses(sock: socket.socket, count: int) -> list[tuple[str, dict[str, str], bytes]]:
    """``count`` HTTP/1.1 responses off a raw socket, in the order they came."""
    data = b""
    responses: list[tuple[str, dict[str, str], bytes]] = []
    while len(responses) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(responses)} responses"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(data) < length:
            data += sock.recv(65536)
        responses.append((lines[0], headers, data[:length]))
        data = data[length:]
    return responses


def test_pipelined_and_closing_requests_are_answered_in_order(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path, "--no-site")
    try:
        status, headers, _ = post(emulator.endpoint, "/api/v1/sessions", START)
        sid = headers["location"].rsplit("/", 1)[1]
        t0 = START["playerTime"]["ts"]
        events = f"/api/v1/sessions/{sid}/events"
        with socket.create_connection(("127.0.0.1", emulator.api_port), timeout=10) as sock:
            # Three requests in one write: the events path, a 400, then the ASGI side; answers in order.
            sock.sendall(raw_post(events, {"playerTime": {"playhead": 0, "ts": t0 + 1}, "eventType": "play"})
                         + raw_post(events, {"playerTime": {"playhead": 1, "ts": t0 + 2}, "eventType": "nope"})
                         + f"GET /_emulator/sessions/{sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            answers = read_responses(sock, 3)
            assert [a[0] for a in answers] == ["HTTP/1.1 204 No Content", "HTTP/1.1 400 Bad Request",
                                               "HTTP/1.1 200 OK"]
            assert answers[0][1]["access-control-expose-headers"] == "Location"
            assert "known event types" in json.loads(answers[1][2])["message"]
            assert [e["event_type"] for e in json.loads(answers[2][2])["events"]] == ["sessionStart", "play"]
            sock.sendall(raw_post(events, {"playerTime": {"playhead": 2, "ts": t0 + 3}, "eventType": "ping"},
                                  "Connection: close"))
            [closing] = read_responses(sock, 1)
            assert closing[0] == "HTTP/1.1 204 No Content" and closing[1]["connection"] == "close"
            assert sock.recv(10) == b""  # and the emulator closed the connection
    finally:
        stop_emulator(emulator)
    assert emulator.process.returncode == 0
    assert "Traceback" not in emulator.log() and "Error" not in emulator.log(), emulator.log()


def test_stats_count_every_answer_with_its_time(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path)
    try:
        first = emulator.get("/_emulator/stats")
        before, gc_before = first["answer_times"], first["gc"]
        status, headers, _ = post(emulator.endpoint, "/api/v1/sessions", START)
        assert status == 201
        events = f"/api/v1/sessions/{headers['location'].rsplit('/', 1)[1]}/events"
        play = {"playerTime": {"playhead": 0, "ts": START["playerTime"]["ts"] + 1000}, "eventType": "play"}
        assert post(emulator.endpoint, events, play)[0] == 204  # the fast path
        assert post(emulator.endpoint, events, {"eventType": "play"})[0] == 400  # a bad body is answered too
        stats = emulator.get("/_emulator/stats")
        after = stats["answer_times"]
    finally:
        stop_emulator(emulator)
    # The garbage collector's passes (each stops every answer), under the CLI's tuning.
    assert stats["gc"]["threshold"] == GC_THRESHOLD
    # Start-up collects once before freezing what it made; the counts only grow.
    assert stats["gc"]["collections"] >= 1 and type(stats["gc"]["collected"]) is int
    assert gc_before["collections"] <= stats["gc"]["collections"] and gc_before["collected"] <= stats["gc"]["collected"]
    assert after["total"] - before["total"] == 3
    assert after["step_ms"] == 0.1
    assert sum(after["counts"].values()) == after["total"]
    assert all(0 <= int(bucket) <= 10_000 for bucket in after["counts"])


def test_over_ipv6_loopback_the_urls_have_brackets_and_the_names_are_checked(tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    emulator = start_emulator(tmp_path, "--host", "::1")
    try:
        log = emulator.log()
        assert f"API:       http://[::1]:{emulator.api_port}/api/v1" in log
        assert f"Demo page: http://[::1]:{emulator.site_port}/?endpoint=http%3A%2F%2F%5B%3A%3A1%5D%3A" in log
        assert "other machines can reach" not in log
        with urllib.request.urlopen(f"http://[::1]:{emulator.api_port}/_emulator/config", timeout=10) as response:
            assert response.status == 200
        request = urllib.request.Request(f"http://[::1]:{emulator.api_port}/_emulator/config",
                                         headers={"Host": "rebound.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        refused.value.close()
    finally:
        stop_emulator(emulator)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--idle-timeout", "inf", "idle_timeout must be greater than 0 and at most 1e+09 (a finite number)"),
    ("--time-scale", "nan", "time_scale must be greater than 0"),
    ("--allow-origin", "127.0.0.1:8000", "--allow-origin: '127.0.0.1:8000' is not an origin"),
    ("--allow-origin", "http://a.example/path", "is not an origin"),
])
def test_durations_and_origins_are_checked(option: str, value: str, message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "mediacollect_emulator", option, value], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_binding_beyond_loopback_is_warned_about() -> None:
    from mediacollect_emulator.__main__ import access_for, exposure_warning, parse_args

    for host in ("127.0.0.1", "::1", "localhost"):
        args = parse_args(["--host", host])
        assert exposure_warning(args.host, access_for(args)) is None
    args = parse_args(["--host", "0.0.0.0", "--allow-host", "box.lan"])
    warning = exposure_warning(args.host, access_for(args))
    assert warning is not None and "other machines can reach the emulator" in warning
    assert "box.lan" in warning and "localhost" in warning
