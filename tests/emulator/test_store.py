"""The store's group commit, in-process and with the writer process the CLI uses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mediacollect_emulator._store import INSERT_REQUEST, Store, StoreError
from tests.helpers import run_async


def row(store: Store, path: str = "/api/v1/sessions") -> tuple[str, tuple[object, ...]]:
    return (INSERT_REQUEST, (store.new_request_id(), 1.0, "POST", path, None, "ping", 204, None, "{}", None, 1, 0.0,
                             None))


@pytest.mark.parametrize("writer_process", [False, True])
def test_concurrent_writes_share_commits_and_are_readable_when_answered(tmp_path: Path,
                                                                       writer_process: bool) -> None:
    store = Store(tmp_path / "store.sqlite3", writer_process=writer_process)

    async def one(i: int) -> int:
        await store.write([row(store, f"/r/{i}")])
        # Answered only once committed: this very request is readable now.
        return len(store.query("SELECT id FROM requests WHERE path = ?", (f"/r/{i}",)))

    async def many() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(200)))

    try:
        assert run_async(many) == [1] * 200
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
        with pytest.raises((StoreError, Exception), match="nowhere"):
            run_async(broken)
        run_async(lambda: store.write([row(store)]))  # the store goes on working
        assert store.query("SELECT COUNT(*) AS n FROM requests")[0]["n"] == 1
    finally:
        store.close()
