"""Crashes mid-stream on a real emulator process: ``kill -9`` of its writer process, then of the
whole emulator. Players keep posting throughout; afterwards every event the emulator
acknowledged (answered 2xx) is in the database after a restart, no request hung, and the log
holds a line about the writer, not a line per request."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
from pathlib import Path

from tests.helpers import START, Emulator, start_emulator, stop_emulator, wait_for

PLAYERS = 4


def writer_pid(emulator: Emulator) -> int:
    store = emulator.get("/_emulator/stats")["store"]
    assert store["unavailable"] is None
    return int(store["writer_pid"])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


class Player(threading.Thread):
    """One viewer on one keep-alive connection: a sessionStart, then pings until told to stop.
    Keeps every (sid, ts) the emulator acknowledged, and every status it got."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.acknowledged: list[tuple[str, int]] = []
        self.statuses: list[int] = []
        self.failures: list[str] = []  # connections cut (only when the whole process is killed)

    def post(self, connection: http.client.HTTPConnection, path: str, body: object) -> tuple[int, str]:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        self.statuses.append(response.status)
        return response.status, response.getheader("Location") or ""

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            status, location = self.post(connection, "/api/v1/sessions", START)
            assert status == 201
            sid = location.rsplit("/", 1)[1]
            self.acknowledged.append((sid, START["playerTime"]["ts"]))
            ts = START["playerTime"]["ts"]
            while not self.stop.is_set():
                ts += 1000
                body = {"playerTime": {"playhead": float(len(self.acknowledged)), "ts": ts}, "eventType": "ping"}
                status, _ = self.post(connection, f"/api/v1/sessions/{sid}/events", body)
                if 200 <= status < 300:
                    self.acknowledged.append((sid, ts))
        except (OSError, http.client.HTTPException) as err:
            self.failures.append(repr(err))
        finally:
            connection.close()


def stored_events(emulator: Emulator) -> set[tuple[str, int]]:
    found = set()
    for session in emulator.get("/_emulator/sessions"):
        for event in emulator.get(f"/_emulator/sessions/{session['sid']}")["events"]:
            found.add((session["sid"], event["body"]["playerTime"]["ts"]))
    return found


def run_players(emulator: Emulator, crash: object) -> list[Player]:
    players = [Player(emulator.api_port) for _ in range(PLAYERS)]
    for player in players:
        player.start()
    wait_for(lambda: all(len(p.acknowledged) > 50 for p in players), what="the players got going", interval=0.02)
    crash()  # type: ignore[operator]
    counts = [len(p.acknowledged) for p in players]
    wait_for(lambda: all(len(p.acknowledged) > c + 50 or p.failures for p, c in zip(players, counts, strict=True)),
             what="the players went on after the crash", interval=0.02)
    for player in players:
        player.stop.set()
    for player in players:
        player.join(30)
        assert not player.is_alive(), "a request hung"
    return players


def test_kill_9_of_the_writer_loses_nothing_and_nobody_waits(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path, "--no-site", "--log-level", "warning")
    try:
        writer = writer_pid(emulator)
        players = run_players(emulator, lambda: os.kill(writer, signal.SIGKILL))
        assert all(not p.failures for p in players), [p.failures for p in players]
        assert all(s in (201, 204) for p in players for s in p.statuses)  # the writer was restarted
        store = emulator.get("/_emulator/stats")["store"]
        assert store["writer_restarts"] == 1 and store["writer_pid"] != writer and alive(store["writer_pid"])
    finally:
        stop_emulator(emulator)
    assert emulator.process.returncode == 0
    log = emulator.log()
    assert log.count("the writer process exited") == 1 and "Traceback" not in log, log[-3000:]
    db = tmp_path / f"emulator-{emulator.api_port}.sqlite3"
    restarted = start_emulator(tmp_path, "--no-site", "--db", str(db))
    try:
        acknowledged = {event for player in players for event in player.acknowledged}
        assert acknowledged <= stored_events(restarted)
    finally:
        stop_emulator(restarted)


def test_kill_9_of_the_whole_emulator_loses_nothing_acknowledged(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path, "--no-site", "--log-level", "warning")
    writer = writer_pid(emulator)
    try:
        players = run_players(emulator, lambda: os.kill(emulator.process.pid, signal.SIGKILL))
        emulator.process.wait(10)
        wait_for(lambda: not alive(writer), what="the orphaned writer exits when the emulator is gone", interval=0.02)
    finally:
        if emulator.process.poll() is None:
            stop_emulator(emulator)
        emulator.log_file.close()
    assert all(p.failures for p in players)  # every connection was cut
    db = tmp_path / f"emulator-{emulator.api_port}.sqlite3"
    restarted = start_emulator(tmp_path, "--no-site", "--db", str(db))
    try:
        acknowledged = {event for player in players for event in player.acknowledged}
        assert len(acknowledged) > PLAYERS * 50
        assert acknowledged <= stored_events(restarted)
    finally:
        stop_emulator(restarted)
