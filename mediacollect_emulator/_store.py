"""What the emulator received, in SQLite (WAL), so people and tests can read it back."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    closed_at REAL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    sid TEXT,
    event_type TEXT,
    status INTEGER NOT NULL,
    message TEXT,
    headers TEXT NOT NULL,
    body TEXT
);
CREATE INDEX IF NOT EXISTS requests_sid ON requests (sid, id);
"""


class Store:
    """A thin SQLite layer. One connection guarded by a lock: the emulator serves one event
    loop, but Starlette's TestClient calls it from another thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create_session(self, sid: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO sessions (sid, created_at) VALUES (?, ?)", (sid, time.time()))

    def session_state(self, sid: str) -> str | None:
        """'open', 'closed', or None for an unknown sid."""
        with self._lock:
            row = self._db.execute("SELECT closed_at FROM sessions WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return None
        return "open" if row["closed_at"] is None else "closed"

    def close_session(self, sid: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE sessions SET closed_at = ? WHERE sid = ? AND closed_at IS NULL", (time.time(), sid)
            )

    def record(
        self,
        *,
        method: str,
        path: str,
        sid: str | None,
        event_type: str | None,
        status: int,
        message: str | None,
        headers: dict[str, str],
        body: Any,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO requests (received_at, method, path, sid, event_type, status, message, headers, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), method, path, sid, event_type, status, message, json.dumps(headers),
                 None if body is None else json.dumps(body)),
            )

    def reset(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM requests")
            self._db.execute("DELETE FROM sessions")

    def sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.sid, s.created_at, s.closed_at,"
                " (SELECT COUNT(*) FROM requests r WHERE r.sid = s.sid AND r.status < 300) AS accepted"
                " FROM sessions s ORDER BY s.created_at, s.rowid"
            ).fetchall()
        return [
            {"sid": r["sid"], "created_at": r["created_at"], "closed": r["closed_at"] is not None,
             "accepted_events": r["accepted"]}
            for r in rows
        ]

    def session(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT sid, created_at, closed_at FROM sessions WHERE sid = ?", (sid,)).fetchone()
            if row is None:
                return None
            requests = self._db.execute("SELECT * FROM requests WHERE sid = ? ORDER BY id", (sid,)).fetchall()
        return {
            "sid": row["sid"],
            "created_at": row["created_at"],
            "closed": row["closed_at"] is not None,
            "events": [_request_dict(r) for r in requests if r["status"] < 300],
            "rejected": [_request_dict(r) for r in requests if r["status"] >= 300],
        }

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM requests ORDER BY id").fetchall()
        return [_request_dict(r) for r in rows]


def _request_dict(row: sqlite3.Row) -> dict[str, Any]:
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
    }
