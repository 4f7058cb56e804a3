"""Records: dataclasses whose methods are generated at first use, identical once they are."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from mediacollect import _lazy
from mediacollect._lazy import lazy_dataclass, materialize, materialize_all


def test_a_lazy_dataclass_is_generated_at_first_use_and_then_is_a_frozen_dataclass() -> None:
    @lazy_dataclass
    class Point:
        x: int
        y: int = 0
        tags: tuple[str, ...] = dataclasses.field(default=())

    assert Point in _lazy._PENDING and not dataclasses.is_dataclass(Point)
    point = Point(1, y=2)
    assert Point not in _lazy._PENDING and dataclasses.is_dataclass(Point)
    assert point == Point(1, 2) and hash(point) == hash(Point(1, 2)) and point != Point(2, 2)
    assert repr(point) == "test_a_lazy_dataclass_is_generated_at_first_use_and_then_is_a_frozen_dataclass.<locals>." \
                          "Point(x=1, y=2, tags=())"
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 5  # type: ignore[misc]
    assert dataclasses.replace(point, y=7) == Point(1, 7)
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags"]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_mutable_lazy_dataclasses_and_materializing_ahead_of_use() -> None:
    @lazy_dataclass(frozen=False)
    class Counter:
        count: int = 0

    @lazy_dataclass
    class Other:
        name: str

    materialize_all()
    assert not _lazy._PENDING
    assert dataclasses.is_dataclass(Counter) and dataclasses.is_dataclass(Other)
    counter = Counter()
    counter.count += 1
    assert counter == Counter(1)
    assert materialize(Counter) is Counter  # a no-op once done


@pytest.mark.skipif(sys.platform == "emscripten", reason="needs a fresh interpreter (a subprocess)")
def test_the_cores_dataclasses_are_not_generated_at_import() -> None:
    code = ("import dataclasses, mediacollect; from mediacollect import _events;"
            "print(dataclasses.is_dataclass(_events.ApiEvent), len(mediacollect._lazy._PENDING))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    is_dataclass, pending = result.stdout.split()
    assert is_dataclass == "False" and int(pending) >= 15
