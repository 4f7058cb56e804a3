"""What the emulator received, in SQLite (WAL), so people and tests can read it back.

Writes are group-committed: a request hands its rows to :meth:`Store.write` and waits until the
transaction holding them is committed; every request that arrives within the same few
milliseconds joins that transaction. The CLI runs the commits in a writer process of their own,
so SQLite's work uses the second core instead of the event loop's. One commit per batch instead
of one per request is what lets the emulator hold thousands of events per second
(bench/emulator_load.py), and a request is never answered before what it carried is on disk, so
nothing accepted is lost on SIGTERM or restart.

Isolation: each request's rows are a group of their own. A batch is one transaction; if it
fails, it is rolled back and its groups are applied one transaction each, so a request whose
rows cannot be stored fails alone and the others commit. Every write is idempotent (inserts
skip a row already there, updates assign), which is what makes the writer supervised: if the
writer process dies, a new one is started and every batch not yet acknowledged is sent again,
in order; whatever the dead one had committed is applied a second time without effect. A writer
that keeps dying (more than ``MAX_RESTARTS`` in ``RESTART_WINDOW_S``) is given up on: requests
then fail at once with :class:`StoreUnavailable` (a ``503``) instead of waiting, and the log
says so at most once per ``LOG_EVERY_S``.

This module is the only one that writes SQL: the rest builds its writes with the ``op_*``
functions and reads through the query methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import multiprocessing
import pickle
import signal
import sqlite3
import threading
import time
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
Group = list[Op]  # the writes of one request: they commit or fail together

log = logging.getLogger("mediacollect_emulator")

CHECKPOINT_INTERVAL = 1.0  # seconds between WAL checkpoints (on their own thread)
COMMIT_INTERVAL = 0.002  # seconds a batch may gather before its commit
MAX_RESTARTS = 5  # writer restarts tolerated within RESTART_WINDOW_S before the store gives up
RESTART_WINDOW_S = 60.0
# A writer that has not acknowledged its oldest batch for this long is taken for hung (stopped,
# stuck on a stalled disk): killed and restarted like a dead one, so no request waits for ever.
# A 20,000-event batch commits in ~0.1 s.
WRITER_DEADLINE_S = 10.0
# A writer just started is a new interpreter importing and opening the database: on a loaded
# machine that takes seconds. Until it says it is ready (acknowledges batch READY) its clock is
# this one, so a slow start is not taken for a hang and killed again.
WRITER_START_S = 60.0
READY = 0  # the batch number a writer acknowledges once it has opened the database (batches count from 1)
LOG_EVERY_S = 10.0  # at most one line per this many seconds about a store that stays broken

# Idempotent, so a batch can be applied again after a writer died before acknowledging it.
INSERT_REQUEST = (
    "INSERT INTO requests (id, received_at, method, path, sid, event_type, status, message, headers, body, ts,"
    " playhead, upstream_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
# A row processed as it is stored (an offline batch's events): an UPDATE per row doubled the
# commit of a 20,000-event batch, which every later commit waits behind.
_INSERT_PROCESSED = (
    "INSERT INTO requests (id, received_at, method, path, sid, event_type, status, message, headers, body, ts,"
    " playhead, upstream_status, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_OPEN_SESSION = "INSERT INTO sessions (sid, created_at, kind, upstream_sid) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
_CLOSE_SESSION = "UPDATE sessions SET closed_at = ?, closed_reason = ? WHERE sid = ?"
_SET_SEQ = "UPDATE requests SET seq = ? WHERE id = ?"
_SET_SEQ_LATE = "UPDATE requests SET seq = ?, late = ? WHERE id = ?"


def op_insert_request(request_id: int, received_at: float, method: str, path: str, sid: str | None,
                      event_type: str | None, status: int, message: str | None, headers: str, body: str | None,
                      ts: int | None, playhead: float | None, upstream_status: int | None,
                      seq: int | None = None) -> Op:
    params = (request_id, received_at, method, path, sid, event_type, status, message, headers, body, ts, playhead,
              upstream_status)
    return (INSERT_REQUEST, params) if seq is None else (_INSERT_PROCESSED, (*params, seq))


def op_open_session(sid: str, created_at: float, kind: str, upstream_sid: str | None) -> Op:
    return (_OPEN_SESSION, (sid, created_at, kind, upstream_sid))


def op_close_session(sid: str, closed_at: float, reason: str) -> Op:
    return (_CLOSE_SESSION, (closed_at, reason, sid))


def op_set_seq(request_id: int, seq: int, late: bool | None = None) -> Op:
    if late is None:
        return (_SET_SEQ, (seq, request_id))
    return (_SET_SEQ_LATE, (seq, int(late), request_id))


class RateLimitedLog:
    """One log line per ``every`` seconds about a condition that persists, with the count of the
    occurrences it stood for: a broken store under load would otherwise log a line per request."""

    def __init__(self, every: float = LOG_EVERY_S) -> None:
        self.every = every
        self._last = float("-inf")
        self._suppressed = 0

    def __call__(self, message: str, *, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            self._suppressed += 1
            return
        suffix = f" ({self._suppressed} more like it since the last line)" if self._suppressed else ""
        self._last, self._suppressed = now, 0
        log.error(message + suffix, exc_info=exc_info)


def _resolve(futures: list[asyncio.Future[None] | None], errors: list[str | None] | None) -> None:
    """Each group's waiter: done, or failed with its group's own error."""
    for index, future in enumerate(futures):
        if future is None or future.done():
            continue
        error = None if errors is None else errors[index]
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(StoreError(error))


def _fail(futures: list[asyncio.Future[None] | None], error: Exception) -> None:
    for future in futures:
        if future is not None and not future.done():
            future.set_exception(error)


def _raise_first(errors: list[str | None] | None) -> None:
    for error in errors or []:
        if error is not None:
            raise StoreError(error)


class StoreError(Exception):
    """A request's writes failed (a row SQLite refuses): that request answers 500, no other."""


class StoreUnavailable(StoreError):
    """The writer keeps dying (disk gone, out of memory...): requests answer 503 at once."""


def _open(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _apply(db: sqlite3.Connection, ops: list[Op]) -> None:
    """One transaction: rows first, then the updates that refer to them; runs of one statement
    go through executemany (most of a batch is one INSERT repeated)."""
    ops = sorted(ops, key=lambda op: not op[0].startswith("INSERT"))
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


# What rows that cannot be stored raise: SQLite's refusals, and values it cannot bind (a lone
# surrogate in a string, an integer beyond 64 bits). Anything else is a bug and is raised.
ROW_ERRORS = (sqlite3.Error, ValueError, TypeError, OverflowError)


def _apply_groups(db: sqlite3.Connection, groups: list[Group]) -> list[str | None] | None:
    """A batch in one transaction; if that fails, each group in its own, so that only the groups
    that fail by themselves fail. Returns None when all committed, else one error (or None) per group."""
    try:
        _apply(db, [op for group in groups for op in group])
        return None
    except ROW_ERRORS as err:  # any failure of the batch: find whose it is
        if len(groups) == 1:
            return [f"{type(err).__name__}: {err}"]
    errors: list[str | None] = []
    for group in groups:
        try:
            _apply(db, group)
            errors.append(None)
        except ROW_ERRORS as err:  # this group's own failure, reported to its request
            errors.append(f"{type(err).__name__}: {err}")
    return errors


def _writer_main(path: str, requests: Connection, acks: Connection) -> None:
    """The writer process: applies batches in the order they come and acknowledges each.

    SQLite's work (and its WAL checkpoints) then runs on another core than the event loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop, and says so
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    db = _open(path)
    db.execute("PRAGMA wal_autocheckpoint=0")  # a checkpoint inside a commit would delay its ack
    acks.send_bytes(pickle.dumps((READY, [])))
    stop = threading.Event()
    checkpointer = threading.Thread(target=_checkpoint_loop, args=(path, stop), daemon=True)
    checkpointer.start()
    try:
        while True:
            try:
                kind, batch, groups = pickle.loads(requests.recv_bytes())
            except (EOFError, OSError):
                break  # the emulator is gone (killed): commit nothing more, close the database
            if kind == "stop":
                break
            acks.send_bytes(pickle.dumps((batch, _apply_groups(db, groups))))
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
    either here or, with ``writer_process=True`` (the CLI's choice), by a supervised process."""

    def __init__(self, path: str | Path, *, writer_process: bool = False,
                 commit_interval: float = COMMIT_INTERVAL, writer_deadline: float = WRITER_DEADLINE_S) -> None:
        self.path = str(path)
        self.commit_interval = commit_interval
        self.writer_deadline = writer_deadline
        self._progress_at = 0.0  # when the writer last acknowledged a batch, or was sent one while idle
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._db = _open(self.path)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()  # the connection
        self._pending_lock = threading.Lock()  # _pending
        self._pending: list[Group] = []
        self._waiters: list[asyncio.Future[None] | None] = []  # one per group of _pending (None: flush)
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
        self._writer_ready = False  # the writer acknowledged READY: it has opened the database
        self._pipe: Connection | None = None  # batches to the writer (blocking)
        self._acks: Connection | None = None  # its acknowledgements (watched by the event loop)
        # Batches sent and not acknowledged: their waiters, and their groups to send again if
        # the writer dies before acknowledging them.
        self._inflight: dict[int, tuple[list[asyncio.Future[None] | None], list[Group]]] = {}
        self._sync_errors: dict[int, list[str | None] | None] = {}  # flush()'s batches: their outcome
        self._batches = 0
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        self._restarts: list[float] = []
        self.writer_restarts = 0  # how many times the writer was restarted (for /_emulator/stats)
        self.unavailable: str | None = None  # why the store gave up, once it has
        self._unavailable_log = RateLimitedLog()
        if writer_process:
            self._start_writer()
        else:
            self._checkpointer = threading.Thread(target=_checkpoint_loop, args=(self.path, self._stop),
                                                  name="mediacollect-checkpoint", daemon=True)
            self._checkpointer.start()

    def _start_writer(self) -> None:
        # Two one-way pipes: the event loop makes the fd it watches non-blocking, and sending
        # must stay blocking (back-pressure if the writer falls behind).
        context = multiprocessing.get_context("spawn")
        requests_in, self._pipe = context.Pipe(duplex=False)
        self._acks, acks_out = context.Pipe(duplex=False)
        self._writer = context.Process(target=_writer_main, args=(self.path, requests_in, acks_out), daemon=True,
                                       name="mediacollect-writer")
        self._writer.start()
        self._writer_ready = False
        requests_in.close()
        acks_out.close()
        # A bigger pipe (Linux: up to 1 MiB) so a writer busy with a checkpoint does not block
        # the event loop's next send.
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self._pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)

    @property
    def writer_pid(self) -> int | None:
        return None if self._writer is None else self._writer.pid

    def close(self) -> None:
        with contextlib.suppress(StoreError):
            self.flush()
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._stop_watching()
        if self._writer is not None and self._pipe is not None:
            with contextlib.suppress(OSError):
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
        """Queue ``ops`` (one request's writes) for the next group commit and wait until they are on disk."""
        await self.write_future(ops)

    def write_future(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        """Queue ``ops`` (one request's writes) for the next group commit; the future is done once
        they are on disk, or fails with :class:`StoreError` if they alone could not be stored."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        if self.unavailable is not None:
            waiter.set_exception(StoreUnavailable(self.unavailable))
            self._unavailable_log(f"store: unavailable ({self.unavailable}); requests are answered 503")
            return waiter
        with self._pending_lock:
            self._pending.append(ops if isinstance(ops, list) else list(ops))
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
            self._pending.append(list(ops))
            self._waiters.append(None)
        self.flush()

    def _take(self) -> tuple[list[Group], list[asyncio.Future[None] | None]]:
        with self._pending_lock:
            groups, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
        return groups, waiters

    def _flush_batch(self) -> None:
        self._flush_scheduled = False
        loop = asyncio.get_running_loop()
        self._last_commit = loop.time()
        groups, waiters = self._take()
        if not groups:
            return
        if self.unavailable is not None:
            _fail(waiters, StoreUnavailable(self.unavailable))
            return
        if self._writer is None:
            with self._lock:
                errors = _apply_groups(self._db, groups)
            _resolve(waiters, errors)
            return
        self._watch(loop)
        if not self._inflight:
            self._progress_at = time.monotonic()
        self._batches += 1
        self._inflight[self._batches] = (waiters, groups)
        self._send(("batch", self._batches, groups))
        self._arm_deadline(loop)

    def _arm_deadline(self, loop: asyncio.AbstractEventLoop) -> None:
        """Check, once the deadline has passed, that the writer still acknowledges batches."""
        if self._deadline_timer is None and self._inflight:
            delay = max(0.0, self._progress_at + self._allowed() - time.monotonic())
            self._deadline_timer = loop.call_later(delay, self._check_progress)

    def _allowed(self) -> float:
        """How long the writer may go without an acknowledgement: longer while it starts."""
        return self.writer_deadline if self._writer_ready else max(self.writer_deadline, WRITER_START_S)

    def _check_progress(self) -> None:
        self._deadline_timer = None
        if not self._inflight or self._writer is None:
            return
        if time.monotonic() - self._progress_at >= self._allowed():
            log.error("store: the writer process acknowledged nothing for %g s; killing it", self._allowed())
            with contextlib.suppress(OSError):
                self._writer.kill()
            self._writer_died()
            self._progress_at = time.monotonic()  # the new writer's time starts now
        with contextlib.suppress(RuntimeError):
            self._arm_deadline(asyncio.get_running_loop())

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._acks is not None
        if self._reader_loop is not loop:
            self._stop_watching()
            loop.add_reader(self._acks.fileno(), self._on_acks)
            self._reader_loop = loop

    def _stop_watching(self) -> None:
        if self._reader_loop is not None and self._acks is not None and not self._reader_loop.is_closed():
            self._reader_loop.remove_reader(self._acks.fileno())
        self._reader_loop = None

    def _send(self, message: tuple[str, int, list[Group]]) -> None:
        assert self._pipe is not None
        try:
            self._pipe.send_bytes(pickle.dumps(message))
        except OSError:
            self._writer_died()

    def _ack(self) -> int | None:
        """Read one acknowledgement (waiting for it); None if the writer died instead."""
        assert self._acks is not None
        try:
            self._acks.poll(None)  # the fd may be non-blocking (watched by the loop): wait here
            batch, errors = pickle.loads(self._acks.recv_bytes())
        except (EOFError, OSError):
            self._writer_died()
            return None
        waiters, _ = self._inflight.pop(batch, ([], []))
        self._progress_at = time.monotonic()
        if not self._writer_ready:  # started: from now on the plain deadline, counted from now
            self._writer_ready = True
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()
                self._deadline_timer = None
            with contextlib.suppress(RuntimeError):  # no running loop: a synchronous write waits itself
                self._arm_deadline(asyncio.get_running_loop())
        _resolve(waiters, errors)
        if batch in self._sync_errors:
            self._sync_errors[batch] = errors
        return int(batch)

    def _on_acks(self) -> None:
        acks = self._acks
        while acks is not None and acks is self._acks and not acks.closed and acks.poll():
            if self._ack() is None:
                return

    def _writer_died(self) -> None:
        """The writer is gone: start another and send it every unacknowledged batch again, or,
        if writers keep dying, give up (requests fail at once with a 503)."""
        writer = self._writer
        assert writer is not None
        writer.join(timeout=5)
        code = writer.exitcode
        self._stop_watching()
        for end in (self._pipe, self._acks):
            if end is not None:
                end.close()
        self._pipe = self._acks = None
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW_S] + [now]
        if len(self._restarts) > MAX_RESTARTS:
            self.unavailable = f"the writer process died {len(self._restarts)} times within {RESTART_WINDOW_S:g} s"
            log.error("store: %s (last exit code %s); giving up: requests are answered 503", self.unavailable, code)
            for waiters, _ in self._inflight.values():
                _fail(waiters, StoreUnavailable(self.unavailable))
            self._inflight.clear()
            self._writer = None
            return
        self.writer_restarts += 1
        log.error("store: the writer process exited (code %s); restarting it and sending %d unacknowledged "
                  "batches again", code, len(self._inflight))
        self._start_writer()
        with contextlib.suppress(RuntimeError):
            self._watch(asyncio.get_running_loop())
        for batch, (_, groups) in sorted(self._inflight.items()):
            assert self._pipe is not None
            try:
                self._pipe.send_bytes(pickle.dumps(("batch", batch, groups)))
            except OSError:
                self._writer_died()
                return

    def flush(self) -> None:
        """Write what is pending now, and return once it is committed."""
        groups, waiters = self._take()
        if not groups:
            return
        if self._writer is None and self.unavailable is None:
            with self._lock:
                errors = _apply_groups(self._db, groups)
            _resolve(waiters, errors)
            _raise_first(errors)
            return
        if self.unavailable is not None:
            _fail(waiters, StoreUnavailable(self.unavailable))
            raise StoreUnavailable(self.unavailable)
        self._batches += 1
        sync = self._batches
        self._inflight[sync] = (waiters, groups)
        self._sync_errors[sync] = None
        self._send(("batch", sync, groups))
        while sync in self._inflight:  # acknowledgements of earlier batches come first
            if self.unavailable is not None:
                raise StoreUnavailable(self.unavailable)
            if self._acks is None:
                continue
            self._ack()
        _raise_first(self._sync_errors.pop(sync, None))

    # -- reading -----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def session_rows(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM sessions ORDER BY created_at, rowid")

    def session_requests(self, sid: str) -> list[dict[str, Any]]:
        return [request_dict(r) for r in self.query("SELECT * FROM requests WHERE sid = ? ORDER BY id", (sid,))]

    def unprocessed(self) -> list[sqlite3.Row]:
        """Accepted events still in a reorder window when the process stopped, with when they arrived."""
        return self.query(
            "SELECT r.id, r.sid, r.ts, r.received_at FROM requests r JOIN sessions s ON s.sid = r.sid"
            " WHERE s.closed_at IS NULL AND r.status BETWEEN 200 AND 299 AND r.seq IS NULL AND r.ts IS NOT NULL"
            " ORDER BY r.id"
        )

    def session_states(self) -> list[sqlite3.Row]:
        """Per session, what its timers and its window were computed from, as the stored requests
        tell it (accepted events are the rows with a ``ts``): ``last_event_at`` (the idle timer),
        ``last_playhead`` and ``moved_at``, the arrival of the first event of the last run with
        that playhead (the no-movement timer), ``processed`` and ``late`` counts, and the ``ts`` of
        the last event processed in order."""
        return self.query("""
            WITH accepted AS (
                SELECT sid, id, received_at, playhead FROM requests
                WHERE sid IS NOT NULL AND status BETWEEN 200 AND 299 AND ts IS NOT NULL),
            latest AS (
                SELECT a.sid, a.playhead FROM accepted a
                JOIN (SELECT sid, MAX(id) AS id FROM accepted GROUP BY sid) m ON a.id = m.id),
            moved AS (
                SELECT a.sid, MAX(a.id) AS id FROM accepted a JOIN latest l ON a.sid = l.sid
                WHERE a.playhead IS NOT l.playhead GROUP BY a.sid),
            totals AS (
                SELECT sid, MAX(received_at) AS last_event_at, MAX(seq) AS processed, SUM(late) AS late
                FROM requests WHERE sid IS NOT NULL AND status BETWEEN 200 AND 299 GROUP BY sid)
            SELECT l.sid, l.playhead AS last_playhead, t.last_event_at, t.processed, t.late,
                (SELECT MIN(a.received_at) FROM accepted a WHERE a.sid = l.sid
                    AND a.id > COALESCE((SELECT id FROM moved WHERE moved.sid = l.sid), 0)) AS moved_at,
                (SELECT r.ts FROM requests r WHERE r.sid = l.sid AND r.seq = t.processed) AS last_processed_ts
            FROM latest l JOIN totals t ON t.sid = l.sid
        """)

    def first_bodies(self, sids: Sequence[str]) -> dict[str, Any]:
        """The first processed event (the sessionStart) of each of ``sids``."""
        found: dict[str, Any] = {}
        for start in range(0, len(sids), 500):
            chunk = list(sids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.query(f"SELECT sid, body FROM requests WHERE seq = 1 AND sid IN ({marks})", chunk):
                if row["body"]:
                    found[row["sid"]] = json.loads(row["body"])
        return found

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        if limit is None:
            rows = self.query("SELECT * FROM requests ORDER BY id")
        else:
            rows = self.query("SELECT * FROM (SELECT * FROM requests ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,))
        return [request_dict(r) for r in rows]

    def counts(self, sids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Per session of ``sids``: (accepted, rejected) requests (through the sid index: the
        UI asks for this every second, and the table holds every request ever received)."""
        found: dict[str, tuple[int, int]] = {}
        for start in range(0, len(sids), 500):
            chunk = list(sids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.query(
                "SELECT sid, SUM(status BETWEEN 200 AND 299) AS ok, SUM(status >= 300) AS bad FROM requests"
                f" WHERE sid IN ({marks}) GROUP BY sid", chunk,
            ):
                found[row["sid"]] = (row["ok"] or 0, row["bad"] or 0)
        return found

    def reset(self) -> None:
        self.write_now([("DELETE FROM requests", ()), ("DELETE FROM sessions", ())])

    async def reset_async(self) -> None:
        await self.write([("DELETE FROM requests", ()), ("DELETE FROM sessions", ())])


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
