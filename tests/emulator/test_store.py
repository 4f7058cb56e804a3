"""The store's group commit, in-process and with the writer process the CLI uses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from mediacollect_emulator._store import INSERT_REQUEST, MAX_RESTARTS, Store, StoreError, StoreUnavailable
from tests.helpers import run_async


def row(store: Store, path: str = "/api/v1/sessions") -> tuple[str, tuple[object, ...]]:
    return (INSERT_REQUEST, (store.new_request_id(), 1.0, "POST", path, None, "ping", 204, None, "{}", None, 1, 0.0,
                             None))


@pytest.mark.parametrize("writer_process", [False, True])
def test_concurrent_writes_share_commits_and_are_readable_when_answered(tmp_path: Path, writer_process: bool,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store.sqlite3", writer_process=writer_process)
    # Every commit, whichever process makes it, starts by taking the pending groups: one take per
    # transaction, its size the number of requests sharing it.
    batches: list[int] = []
    take = store._take

    def counted_take() -> tuple[list[Any], list[Any]]:
        groups, waiters = take()
        if groups:
            batches.append(len(groups))
        return groups, waiters

    monkeypatch.setattr(store, "_take", counted_take)

    async def one(i: int) -> int:
        await store.write([row(store, f"/r/{i}")])
        # Answered only once committed: this very request is readable now.
        return len(store.query("SELECT id FROM requests WHERE path = ?", (f"/r/{i}",)))

    async def many() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(200)))

    try:
        assert run_async(many) == [1] * 200
        assert sum(batches) == 200
        # The 200 writes were queued in one turn of the loop: a handful of commits carry them all.
        assert len(batches) <= 10 and max(batches) >= 20, batches
        store.write_now([row(store, "/sync")])
        assert store.query("SELECT COUNT(*) AS n FROM requests")[0]["n"] == 201
        store.reset()
        assert store.query("SELECT COUNT(*) AS n FROM requests")[0]["n"] == 0
    finally:
        store.close()
    reopened = Store(tmp_path / "store.sqlite3")
    try:
        assert reopened.new_request_id() == 1
    finally:
        reopened.close()


@pytest.mark.parametrize("writer_process", [False, True])
def test_a_failed_write_fails_the_requests_waiting_on_it(tmp_path: Path, writer_process: bool) -> None:
    store = Store(tmp_path / "store.sqlite3", writer_process=writer_process)

    async def broken() -> None:
        await store.write([("INSERT INTO nowhere VALUES (?)", (1,))])

    try:
        with pytest.raises(StoreError, match="nowhere"):
            run_async(broken)
        run_async(lambda: store.write([row(store)]))  # the store goes on working
        assert store.query("SELECT COUNT(*) AS n FROM requests")[0]["n"] == 1
    finally:
        store.close()


@pytest.mark.parametrize("writer_process", [False, True])
def test_one_requests_failing_writes_never_fail_another_in_the_same_commit(tmp_path: Path,
                                                                          writer_process: bool) -> None:
    store = Store(tmp_path / "store.sqlite3", writer_process=writer_process)

    async def scenario() -> list[BaseException | None]:
        good = [store.write_future([row(store, f"/good/{i}")]) for i in range(5)]
        bad = store.write_future([row(store, "/half"), ("INSERT INTO nowhere VALUES (?)", (1,))])
        more = [store.write_future([row(store, f"/more/{i}")]) for i in range(5)]
        return await asyncio.gather(*good, bad, *more, return_exceptions=True)

    try:
        results = run_async(scenario)
        assert [r is None for r in results] == [True] * 5 + [False] + [True] * 5
        assert isinstance(results[5], StoreError) and "nowhere" in str(results[5])
        paths = [r["path"] for r in store.query("SELECT path FROM requests ORDER BY id")]
        assert "/half" not in paths and len(paths) == 10  # the failing request's rows as one: none of them
    finally:
        store.close()


def test_a_killed_writer_is_restarted_and_every_write_reaches_the_disk(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.sqlite3", writer_process=True)

    async def scenario() -> None:
        for round_ in range(3):
            pid = store.writer_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await asyncio.gather(*(store.write_future([row(store, f"/r{round_}/{i}")]) for i in range(50)))
            assert store.writer_pid != pid

    try:
        run_async(scenario)
        assert store.query("SELECT COUNT(*) AS n FROM requests")[0]["n"] == 150
        assert store.writer_restarts == 3 and store.unavailable is None
    finally:
        store.close()


def test_a_hung_writer_is_killed_and_restarted_and_nobody_waits_for_ever(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A writer that stops answering without dying (SIGSTOP: a stalled disk looks the same) is
    taken for dead after the deadline: every write still reaches the disk, once."""
    store = Store(tmp_path / "store.sqlite3", writer_process=True, writer_deadline=0.5)

    async def scenario() -> None:
        await store.write_future([row(store, "/working")])  # a writer that was working, then stops
        pid = store.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        writes = asyncio.gather(*(store.write_future([row(store, f"/hung/{i}")]) for i in range(20)))
        await asyncio.wait_for(writes, timeout=10)
        assert store.writer_pid not in (None, pid)

    try:
        with caplog.at_level(logging.ERROR, logger="mediacollect_emulator"):
            run_async(scenario)
        assert store.query("SELECT COUNT(*) AS n FROM requests")[0]["n"] == 21
        assert store.writer_restarts == 1 and store.unavailable is None
        assert [r for r in caplog.records if "acknowledged nothing" in r.getMessage()]
    finally:
        store.close()


def test_a_writer_that_keeps_dying_makes_writes_fail_at_once_with_one_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path / "store.sqlite3", writer_process=True)

    async def scenario() -> list[BaseException | None]:
        for _ in range(MAX_RESTARTS + 1):
            pid = store.writer_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(StoreUnavailable):
                await store.write([row(store)])
        assert store.unavailable is not None
        return await asyncio.gather(*(store.write_future([row(store)]) for _ in range(1000)), return_exceptions=True)

    try:
        with caplog.at_level(logging.ERROR, logger="mediacollect_emulator"):
            results = run_async(scenario)
        assert all(isinstance(r, StoreUnavailable) for r in results)
        unavailable = [r for r in caplog.records if "requests are answered 503" in r.getMessage()]
        assert 1 <= len(unavailable) <= 2, [r.getMessage() for r in unavailable]
    finally:
        store.close()
