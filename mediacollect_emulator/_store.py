"""What the emulator received, in SQLite (WAL), so people and tests can read it back.

Writes are group-committed: a request hands its rows to :meth:`Store.write` and waits until the
transaction holding them is committed; every request that arrives within the same few
milliseconds joins that transaction. The CLI runs the commits in a writer process of their own,
so SQLite's work uses the second core instead of the event loop's. One commit per batch instead
of one per request is what lets the emulator hold thousands of events per second
(bench/emulator_load.py), and a request is never answered before what it carried is on disk, so
nothing accepted is lost on SIGTERM or restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import multiprocessing
import pickle
import signal
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'online',
    closed_at REAL,
    closed_reason TEXT,
    upstream_sid TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    sid TEXT,
    event_type TEXT,
    status INTEGER NOT NULL,
    message TEXT,
    headers TEXT NOT NULL,
    body TEXT,
    ts INTEGER,
    playhead REAL,
    seq INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    upstream_status INTEGER
);
CREATE INDEX IF NOT EXISTS requests_sid ON requests (sid, id);
"""

Op = tuple[str, Sequence[Any]]

CHECKPOINT_INTERVAL = 1.0  # seconds between WAL checkpoints (on their own thread)
COMMIT_INTERVAL = 0.002  # seconds a batch may gather before its commit

INSERT_REQUEST = (
    "INSERT INTO requests (id, received_at, method, path, sid, event_type, status, message, headers, body, ts,"
    " playhead, upstream_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _resolve(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


class StoreError(Exception):
    """A write failed (disk full, database removed...): the requests waiting on it answer 500."""


def _open(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _apply(db: sqlite3.Connection, ops: list[Op]) -> None:
    """One transaction: rows first, then the updates that refer to them; runs of one statement
    go through executemany (most of a batch is one INSERT repeated)."""
    ops.sort(key=lambda op: not op[0].startswith("INSERT"))
    db.execute("BEGIN")
    try:
        start = 0
        while start < len(ops):
            sql = ops[start][0]
            end = start + 1
            while end < len(ops) and ops[end][0] == sql:
                end += 1
            db.executemany(sql, [params for _, params in ops[start:end]])
            start = end
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _writer_main(path: str, requests: Connection, acks: Connection) -> None:
    """The writer process: applies batches in the order they come and acknowledges each.

    SQLite's work (and its WAL checkpoints) then runs on another core than the event loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop, and says so
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    db = _open(path)
    db.execute("PRAGMA wal_autocheckpoint=0")  # a checkpoint inside a commit would delay its ack
    stop = threading.Event()
    checkpointer = threading.Thread(target=_checkpoint_loop, args=(path, stop), daemon=True)
    checkpointer.start()
    try:
        while True:
            kind, batch, ops = pickle.loads(requests.recv_bytes())
            if kind == "stop":
                break
            error = None
            try:
                _apply(db, ops)
            except Exception as err:
                error = f"{type(err).__name__}: {err}"
            acks.send_bytes(pickle.dumps((batch, error)))
    finally:
        stop.set()
        checkpointer.join(timeout=10)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()


def _checkpoint_loop(path: str, stop: threading.Event) -> None:
    """Fold the WAL into the database file now and then, beside the commits, never inside one."""
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        while not stop.wait(CHECKPOINT_INTERVAL):
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # the database went away (tests delete temporary files); nothing left to fold in
    finally:
        connection.close()


class Store:
    """SQLite. Reads are synchronous (they are small and rare); writes are group-committed,
    either here or, with ``writer_process=True`` (the CLI's choice), by a process of their own."""

    def __init__(self, path: str | Path, *, writer_process: bool = False,
                 commit_interval: float = COMMIT_INTERVAL) -> None:
        self.path = str(path)
        self.commit_interval = commit_interval
        self._db = _open(self.path)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()  # the connection
        self._pending_lock = threading.Lock()  # _pending
        self._pending: list[Op] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flush_scheduled = False
        self._last_commit = 0.0
        with self._lock:
            if not writer_process:
                # Checkpoints copy the WAL into the database file: tens of milliseconds that would
                # stall every request if a commit in the event loop triggered them. A thread does it.
                self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.executescript(_SCHEMA)
            self._next_id = (self._db.execute("SELECT MAX(id) FROM requests").fetchone()[0] or 0) + 1
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._writer: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None  # batches to the writer (blocking)
        self._acks: Connection | None = None  # its acknowledgements (watched by the event loop)
        self._inflight: dict[int, list[asyncio.Future[None]]] = {}
        self._batches = 0
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        if writer_process:
            # Two one-way pipes: the event loop makes the fd it watches non-blocking, and sending
            # must stay blocking (back-pressure if the writer falls behind).
            context = multiprocessing.get_context("spawn")
            requests_in, self._pipe = context.Pipe(duplex=False)
            self._acks, acks_out = context.Pipe(duplex=False)
            self._writer = context.Process(target=_writer_main, args=(self.path, requests_in, acks_out), daemon=True,
                                           name="mediacollect-writer")
            self._writer.start()
            requests_in.close()
            acks_out.close()
            # A bigger pipe (Linux: up to 1 MiB) so a writer busy with a checkpoint does not block
            # the event loop's next send.
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(self._pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        else:
            self._checkpointer = threading.Thread(target=_checkpoint_loop, args=(self.path, self._stop),
                                                  name="mediacollect-checkpoint", daemon=True)
            self._checkpointer.start()

    def close(self) -> None:
        self.flush()
        if self._reader_loop is not None and self._acks is not None and not self._reader_loop.is_closed():
            self._reader_loop.remove_reader(self._acks.fileno())
        if self._writer is not None and self._pipe is not None:
            self._pipe.send_bytes(pickle.dumps(("stop", 0, [])))
            self._writer.join(timeout=10)
            self._pipe.close()
            if self._acks is not None:
                self._acks.close()
        if self._checkpointer is not None:
            self._stop.set()
            self._checkpointer.join(timeout=10)
        with self._lock:
            if self._writer is None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    def new_request_id(self) -> int:
        """Ids are handed out before the row is written, so the reorder window can refer to it."""
        request_id = self._next_id
        self._next_id += 1
        return request_id

    # -- writing -----------------------------------------------------------------------------

    async def write(self, ops: Iterable[Op]) -> None:
        """Queue ``ops`` for the next group commit and wait until it is on disk."""
        await self.write_future(ops)

    def write_future(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        """Queue ``ops`` for the next group commit; the future is done once it is on disk."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._pending_lock:
            self._pending.extend(ops)
        self._waiters.append(waiter)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # At most one commit per commit_interval: under load a batch gathers many requests
            # (a commit costs as much as dozens of rows); when idle the wait is one loop turn.
            since = loop.time() - self._last_commit
            if since >= self.commit_interval:
                loop.call_soon(self._flush_batch)
            else:
                loop.call_later(self.commit_interval - since, self._flush_batch)
        return waiter

    def write_now(self, ops: Iterable[Op]) -> None:
        """Synchronous write, for start-up and shutdown paths outside a request."""
        with self._pending_lock:
            self._pending.extend(ops)
        self.flush()

    def _take(self) -> list[Op]:
        with self._pending_lock:
            ops, self._pending = self._pending, []
        return ops

    def _flush_batch(self) -> None:
        self._flush_scheduled = False
        loop = asyncio.get_running_loop()
        self._last_commit = loop.time()
        waiters, self._waiters = self._waiters, []
        if self._pipe is None:
            try:
                self.flush()
            except Exception as err:  # a disk fault: every waiting request answers 500
                _resolve(waiters, err)
            else:
                _resolve(waiters, None)
            return
        assert self._acks is not None
        if self._reader_loop is not loop:
            if self._reader_loop is not None and not self._reader_loop.is_closed():
                self._reader_loop.remove_reader(self._acks.fileno())
            loop.add_reader(self._acks.fileno(), self._on_acks)
            self._reader_loop = loop
        self._batches += 1
        self._inflight[self._batches] = waiters
        self._pipe.send_bytes(pickle.dumps(("batch", self._batches, self._take())))

    def _ack(self) -> int:
        assert self._acks is not None
        self._acks.poll(None)  # the fd may be non-blocking (watched by the loop): wait here
        batch, error = pickle.loads(self._acks.recv_bytes())
        _resolve(self._inflight.pop(batch, []), None if error is None else StoreError(error))
        if error is not None and batch < 0:
            raise StoreError(error)
        return int(batch)

    def _on_acks(self) -> None:
        assert self._acks is not None
        while self._acks.poll():
            self._ack()

    def flush(self) -> None:
        """Write what is pending now, and return once it is committed."""
        ops = self._take()
        if not ops:
            return
        if self._pipe is None:
            with self._lock:
                _apply(self._db, ops)
            return
        self._pipe.send_bytes(pickle.dumps(("sync", -1, ops)))
        while self._ack() != -1:  # acknowledgements of earlier batches come first
            pass

    # -- reading -----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def session_rows(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM sessions ORDER BY created_at, rowid")

    def session_row(self, sid: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM sessions WHERE sid = ?", (sid,))
        return rows[0] if rows else None

    def session_requests(self, sid: str) -> list[dict[str, Any]]:
        return [request_dict(r) for r in self.query("SELECT * FROM requests WHERE sid = ? ORDER BY id", (sid,))]

    def unprocessed(self) -> list[sqlite3.Row]:
        """Accepted events still in a reorder window when the process stopped."""
        return self.query(
            "SELECT r.id, r.sid, r.ts FROM requests r JOIN sessions s ON s.sid = r.sid WHERE s.closed_at IS NULL"
            " AND r.status BETWEEN 200 AND 299 AND r.seq IS NULL AND r.ts IS NOT NULL ORDER BY r.id"
        )

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        if limit is None:
            rows = self.query("SELECT * FROM requests ORDER BY id")
        else:
            rows = self.query("SELECT * FROM (SELECT * FROM requests ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,))
        return [request_dict(r) for r in rows]

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per session: (accepted, rejected) requests."""
        rows = self.query(
            "SELECT sid, SUM(status BETWEEN 200 AND 299) AS ok, SUM(status >= 300) AS bad FROM requests"
            " WHERE sid IS NOT NULL GROUP BY sid"
        )
        return {r["sid"]: (r["ok"] or 0, r["bad"] or 0) for r in rows}

    def reset(self) -> None:
        self.write_now([("DELETE FROM requests", ()), ("DELETE FROM sessions", ())])


def request_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "received_at": row["received_at"],
        "method": row["method"],
        "path": row["path"],
        "sid": row["sid"],
        "event_type": row["event_type"],
        "status": row["status"],
        "message": row["message"],
        "headers": json.loads(row["headers"]),
        "body": None if row["body"] is None else json.loads(row["body"]),
        "seq": row["seq"],
        "late": bool(row["late"]),
        "upstream_status": row["upstream_status"],
    }
