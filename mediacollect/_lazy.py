"""Dataclasses whose methods are generated at first use instead of at import.

``dataclasses.dataclass`` writes and compiles ``__init__``, ``__eq__``, ``__repr__``... for each
class when the class statement runs. In Pyodide that costs about 4 ms a class, and the core has
sixteen: most of what ``import mediacollect`` cost the page (bench/import_cost.py).
``lazy_dataclass`` makes the same dataclass, but only when the class is first instantiated (or when
``materialize_all()`` runs; the page calls it right after the tracker is ready, off the start-up
path). Once materialized such a class *is* a plain ``dataclass(frozen=...)``: same methods, same
``dataclasses.fields``/``replace``, same behaviour; type checkers see it as one through
``dataclass_transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, dataclass_transform, overload

_C = TypeVar("_C", bound=type)
_PENDING: dict[type, bool] = {}  # class -> frozen, until materialized


def materialize(cls: _C) -> _C:
    """Turn ``cls`` into its dataclass now (a no-op once done)."""
    frozen = _PENDING.pop(cls, None)
    if frozen is not None:
        del cls.__init__  # type: ignore[misc]  # dataclass() only writes methods the class lacks
        dataclass(frozen=frozen)(cls)
    return cls


def materialize_all() -> None:
    """Generate every pending class's methods (the page does this once it is ready)."""
    for cls in list(_PENDING):
        materialize(cls)


def _defer(cls: _C, frozen: bool) -> _C:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        materialize(cls)
        cls.__init__(self, *args, **kwargs)  # type: ignore[misc]  # the generated one, now

    cls.__init__ = __init__  # type: ignore[misc]
    _PENDING[cls] = frozen
    return cls


@overload
def lazy_dataclass(cls: _C, /) -> _C: ...
@overload
def lazy_dataclass(*, frozen: bool = True) -> Callable[[_C], _C]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def lazy_dataclass(cls: _C | None = None, /, *, frozen: bool = True) -> _C | Callable[[_C], _C]:
    """``@lazy_dataclass`` is ``@dataclass(frozen=True)``; ``@lazy_dataclass(frozen=False)`` a mutable one."""
    if cls is None:
        return lambda inner: _defer(inner, frozen)
    return _defer(cls, frozen)
