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


@pytest.fixture
def fresh(emulator: Emulator) -> Iterator[Emulator]:
    """The shared emulator with nothing stored and no fault left over from the test: for every
    test that reads back what the emulator received."""
    emulator.reset()
    yield emulator
    emulator.post("/_emulator/faults", None, method="DELETE")
