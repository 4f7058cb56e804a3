"""The emulator in-process: a store in the test's own folder, an API app on it, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mediacollect_emulator import Store, create_api_app
from tests.emulator.inprocess import LOCAL, Clock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "emulator.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """The API app with the default server rules and the real clock."""
    with TestClient(create_api_app(store), base_url=LOCAL) as test_client:
        yield test_client


@pytest.fixture
def clock() -> Clock:
    return Clock()
