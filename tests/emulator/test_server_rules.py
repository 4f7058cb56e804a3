"""The server's rules in-process, with a clock the test moves: timeouts, the reorder window,
time scaling, idempotent sessionEnd, and nothing accepted lost across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mediacollect_emulator import ServerRules, Store
from tests.emulator.inprocess import Clock, client_for, post, start_session
from tests.helpers import START


def event(client: TestClient, sid: str, event_type: str, ts: int, playhead: float = 0.0) -> Any:
    return post(client, f"/api/v1/sessions/{sid}/events",
                {"playerTime": {"playhead": playhead, "ts": ts}, "eventType": event_type})


def test_ten_minutes_without_events_close_the_session(store: Store, clock: Clock) -> None:
    with client_for(store, clock) as client:
        sid = start_session(client)
        clock.now += 599
        assert event(client, sid, "play", 2).status_code == 204
        clock.now += 600
        gone = event(client, sid, "ping", 3, 10)
        assert gone.status_code == 410
        assert gone.json() == {"message": "the session is closed (no events for 600 s)"}
        listed = client.get("/_emulator/sessions").json()
        assert listed[0]["closed"] and listed[0]["closed_reason"] == "no events for 600 s"


def test_thirty_minutes_without_playhead_movement_close_it_even_with_pings(store: Store, clock: Clock) -> None:
    with client_for(store, clock) as client:
        moving, paused = start_session(client), start_session(client)
        for minute in range(1, 31):
            clock.now += 60
            assert event(client, moving, "ping", minute * 60_000, playhead=minute * 60.0).status_code == 204
            status = event(client, paused, "ping", minute * 60_000, playhead=0.0).status_code
            assert status == (204 if minute < 30 else 410), minute
        closed = client.get(f"/_emulator/sessions/{paused}").json()
        assert closed["closed_reason"] == "playhead unchanged for 1800 s"
        assert not client.get(f"/_emulator/sessions/{moving}").json()["closed"]


def test_time_scale_makes_ten_minutes_pass_in_one_second(store: Store, clock: Clock) -> None:
    with client_for(store, clock, time_scale=600) as client:
        sid = start_session(client)
        clock.now += 0.9
        assert event(client, sid, "play", 2).status_code == 204
        clock.now += 1.0
        assert event(client, sid, "ping", 3).status_code == 410


def test_durations_are_configurable(store: Store, clock: Clock) -> None:
    with client_for(store, clock, idle_timeout=30, stall_timeout=3600) as client:
        sid = start_session(client)
        clock.now += 31
        assert event(client, sid, "play", 2).status_code == 410
    with pytest.raises(ValueError, match="time_scale must be greater than 0"):
        ServerRules(time_scale=0)


def processed_types(client: TestClient, sid: str) -> list[tuple[str, int, bool]]:
    detail = client.get(f"/_emulator/sessions/{sid}").json()
    return [(p["body"]["eventType"], p["body"]["playerTime"]["ts"], p["late"]) for p in detail["processed"]
            if p["seq"] is not None]


def test_reorder_window_sorts_by_ts_and_counts_stragglers(store: Store, clock: Clock) -> None:
    with client_for(store, clock) as client:
        sid = start_session(client)  # ts 1_731_672_000_000 in START
        t0 = START["playerTime"]["ts"]
        for event_type, offset in (("ping", 3000), ("play", 1000), ("bufferStart", 2000)):
            assert event(client, sid, event_type, t0 + offset).status_code == 204
        # Still in the window: nothing processed yet beyond sessionStart, but shown in ts order.
        detail = client.get(f"/_emulator/sessions/{sid}").json()
        assert detail["waiting_in_window"] == 3
        assert [p["body"]["eventType"] for p in detail["processed"]] == ["sessionStart", "play", "bufferStart", "ping"]
        clock.now += 5
        assert processed_types(client, sid) == [
            ("sessionStart", t0, False), ("play", t0 + 1000, False), ("bufferStart", t0 + 2000, False),
            ("ping", t0 + 3000, False)]
        # An event older than what was processed is a late straggler: processed, flagged, counted.
        assert event(client, sid, "pauseStart", t0 + 1500).status_code == 204
        clock.now += 5
        assert processed_types(client, sid)[-1] == ("pauseStart", t0 + 1500, True)
        assert client.get(f"/_emulator/sessions/{sid}/metrics").json()["late_events"] == 1


def test_ten_waiting_events_are_processed_without_waiting(store: Store, clock: Clock) -> None:
    with client_for(store, clock) as client:
        sid = start_session(client)
        t0 = START["playerTime"]["ts"]
        for i in range(10):
            event(client, sid, "ping", t0 + 10_000 - i * 100, playhead=float(i))
        detail = client.get(f"/_emulator/sessions/{sid}").json()
        assert detail["waiting_in_window"] == 0
        ts = [p["body"]["playerTime"]["ts"] for p in detail["processed"]]
        assert ts == sorted(ts)


def test_equal_ts_is_accepted_and_warned_about(store: Store, clock: Clock) -> None:
    with client_for(store, clock) as client:
        sid = start_session(client)
        t0 = START["playerTime"]["ts"]
        assert event(client, sid, "play", t0 + 5).status_code == 204
        assert event(client, sid, "ping", t0 + 5).status_code == 204
        warnings = client.get(f"/_emulator/sessions/{sid}/metrics").json()["warnings"]
        assert any("same ts" in w for w in warnings)


def test_session_end_processes_the_window_and_is_idempotent(store: Store, clock: Clock) -> None:
    with client_for(store, clock) as client:
        sid = start_session(client)
        t0 = START["playerTime"]["ts"]
        event(client, sid, "play", t0 + 10)
        assert event(client, sid, "sessionEnd", t0 + 20).status_code == 204
        assert event(client, sid, "sessionEnd", t0 + 30).status_code == 204
        detail = client.get(f"/_emulator/sessions/{sid}").json()
        assert detail["closed_reason"] == "sessionEnd received" and detail["waiting_in_window"] == 0
        assert [p["body"]["eventType"] for p in detail["processed"]] == ["sessionStart", "play", "sessionEnd"]


def test_nothing_accepted_is_lost_across_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "named.sqlite3"
    first = Store(path)
    with client_for(first, clock) as client:
        sid = start_session(client)
        closed = start_session(client)
        t0 = START["playerTime"]["ts"]
        event(client, sid, "play", t0 + 10)
        event(client, sid, "ping", t0 + 20, 10)  # both still in the reorder window
        event(client, closed, "sessionEnd", t0 + 5)
    first.close()

    second = Store(path)
    try:
        with client_for(second, clock) as client:
            detail = client.get(f"/_emulator/sessions/{sid}").json()
            assert detail["waiting_in_window"] == 2
            clock.now += 5
            assert [t for t, _, _ in processed_types(client, sid)] == ["sessionStart", "play", "ping"]
            assert event(client, closed, "play", t0 + 50).status_code == 410
            assert event(client, sid, "pauseStart", t0 + 30, 10).status_code == 204
    finally:
        second.close()
