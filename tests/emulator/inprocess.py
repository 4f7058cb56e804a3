"""The emulator's apps in-process (Starlette's TestClient): the Host they answer to, a clock the
test moves, and the requests most tests start with."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from mediacollect_emulator import ServerRules, Store, create_api_app
from tests.helpers import START

LOCAL = "http://127.0.0.1:8001"  # the Host the inspection API answers to (not TestClient's "testserver")
JSON = {"Content-Type": "application/json"}


class Clock:
    """The server's clock, moved by the test (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def client_for(store: Store, clock: Clock, **rules: Any) -> TestClient:
    """An API app on ``store`` with the test's clock and these server rules (enter it: ``with``)."""
    return TestClient(create_api_app(store, rules=ServerRules(**rules), clock=clock), base_url=LOCAL)


def post(client: TestClient, path: str, body: Any, **headers: str) -> Any:
    return client.post(path, content=json.dumps(body), headers={**JSON, **headers})


def post_raw(client: TestClient, path: str, raw: bytes, **headers: str) -> Any:
    return client.post(path, content=raw, headers={**JSON, **headers})


def start_session(client: TestClient) -> str:
    """A session opened with the spec's sessionStart; its id."""
    response = post(client, "/api/v1/sessions", START)
    assert response.status_code == 201
    return str(response.headers["location"].rsplit("/", 1)[1])
