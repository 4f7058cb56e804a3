"""Shared fixtures: a real emulator process on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import Emulator, start_emulator, stop_emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    running = start_emulator(tmp_path_factory.mktemp("emulator"))
    yield running
    stop_emulator(running)
