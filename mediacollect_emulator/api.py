"""The emulator's API server: one ASGI app on one port, put together from modules with one job each.

* ``_decode``: the boundary every request crosses first (valid text, sizes, limits);
* ``_collection``: the Media Collection API itself (``/api/v1/*``), open to every origin;
* ``_fastpath``: the same handlers for event posts, without the ASGI machinery (the CLI's server);
* ``_inspection``: read-back, faults, reset and the UI (``/``, ``/_emulator/*``), behind ``_guard``
  (Host allow-list, same-origin JSON for anything that changes state, no CORS);
* ``_faults``: scripted fault rules and answer-time statistics;
* ``_sessions`` and ``_store``: the server's rules and what it received (all SQL is in the store).

Bad input is always a 4xx with a message, never a 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._collection import CollectionApi, Reply, cors_headers
from ._decode import BadRequest
from ._faults import AnswerTimes, Fault
from ._forward import Upstream
from ._guard import Access, Guarded
from ._inspection import create_inspection_app
from ._sessions import ServerRules, Sessions
from ._state import EmulatorState
from ._store import Store

__all__ = ["Access", "AnswerTimes", "BadRequest", "CollectionApi", "EmulatorApp", "EmulatorState", "Fault", "Reply",
           "cors_headers", "create_api_app"]


class EmulatorApp:
    """One ASGI app: the collection API's own handler for ``/api/v1/``, the guarded inspection
    app (Starlette) for the rest."""

    def __init__(self, state: EmulatorState, rules: ServerRules, access: Access) -> None:
        self.state = state
        self.access = access
        self.collection = CollectionApi(state)
        self.inspection = Guarded(create_inspection_app(state, rules), access)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1/"):
            await self.collection(scope, receive, send)
        else:
            await self.inspection(scope, receive, send)


def create_api_app(store: Store, *, expose_location: bool = True, rules: ServerRules | None = None,
                   forward: str | None = None, clock: Callable[[], float] = time.time,
                   access: Access | None = None) -> EmulatorApp:
    """The API app. ``access`` says which Host names and Origins the inspection API accepts
    (default: loopback names on any port)."""
    rules = rules or ServerRules()
    state = EmulatorState(store, Sessions(store, rules, clock), expose_location=expose_location,
                          upstream=None if forward is None else Upstream(forward))
    return EmulatorApp(state, rules, access or Access.local())
