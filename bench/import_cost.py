"""What importing the tracker costs, module by module, in the runtime the page uses.

    node bench/pyodide_run.mjs bench/import_cost.py   # Pyodide, from the built wheel (vendor/wheels)
    .venv/bin/python bench/import_cost.py             # CPython, for comparison

The wheel the page installs is used (it carries Pyodide-compiled ``.pyc`` files), unpacked into a
temporary folder. Each repeat drops every ``mediacollect`` module from ``sys.modules`` and imports
the package again, so the figure is our modules' own cost (the stdlib modules they need stay
imported after the first round, as they are in the page, where PyScript imported most of them).
The first, cold round is reported on its own, and so is the dataclass generation ``lazy_dataclass``
defers from import time to just after the tracker is ready. What is imported is what the page
imports (``PAGE_MODULES``) but ``browser``, which needs a page: ``import mediacollect`` alone loads
the core only.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The package and the binding's plain-Python modules, which import the delivery layer.
PAGE_MODULES = ("mediacollect", "mediacollect._player")


def unpack_wheel() -> Path:
    wheels = sorted((ROOT / "vendor" / "wheels").glob("mediacollect-*.whl"))
    if not wheels:
        sys.exit("vendor/wheels has no mediacollect wheel: run `make vendor` first")
    target = Path(tempfile.mkdtemp(prefix="mediacollect-import-"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extractall(target)
    return target


def forget() -> None:
    for name in [n for n in sys.modules if n == "mediacollect" or n.startswith("mediacollect.")]:
        del sys.modules[name]


class _Timed(importlib.abc.MetaPathFinder):
    """Wraps the loaders of our modules to time each one's own execution (children excluded)."""

    def __init__(self) -> None:
        self.own: dict[str, float] = {}
        self._stack: list[float] = []

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        if not (name == "mediacollect" or name.startswith("mediacollect.")):
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module  # type: ignore[union-attr]
        timed = self

        def timed_exec(module: object) -> None:
            timed._stack.append(0.0)
            started = time.perf_counter()
            try:
                exec_module(module)
            finally:
                elapsed = time.perf_counter() - started
                children = timed._stack.pop()
                timed.own[name.removeprefix("mediacollect.") or "(package)"] = (elapsed - children) * 1000
                if timed._stack:
                    timed._stack[-1] += elapsed

        loader.exec_module = timed_exec  # type: ignore[union-attr]
        return spec


def import_all() -> dict[str, float]:
    """Milliseconds of each of our modules' own code (imports of other modules excluded)."""
    finder = _Timed()
    sys.meta_path.insert(0, finder)
    try:
        for name in PAGE_MODULES:
            importlib.import_module(name)
    finally:
        sys.meta_path.remove(finder)
    return finder.own


def main() -> None:
    in_pyodide = sys.platform == "emscripten"
    sys.path.insert(0, str(unpack_wheel() if in_pyodide else ROOT))
    started = time.perf_counter()
    for name in PAGE_MODULES:
        importlib.import_module(name)
    cold = (time.perf_counter() - started) * 1000
    from mediacollect._lazy import materialize_all

    started = time.perf_counter()
    materialize_all()
    deferred = (time.perf_counter() - started) * 1000
    rounds = []
    for _ in range(15):
        forget()
        rounds.append(import_all())
    total = [sum(r.values()) for r in rounds]
    print(f"# import cost, {time.strftime('%Y-%m-%d')}, {platform.python_implementation()} "
          f"{platform.python_version()} on {sys.platform}")
    print(f"cold import of {', '.join(PAGE_MODULES)} (stdlib included): {cold:.1f} ms")
    print(f"deferred dataclass generation (materialize_all, after ready): {deferred:.1f} ms")
    print(f"our modules, warm stdlib: median {statistics.median(total):.1f} ms "
          f"({min(total):.1f}-{max(total):.1f}) over {len(total)} rounds")
    names = sorted(rounds[0], key=lambda n: -statistics.median(r.get(n, 0.0) for r in rounds))
    for name in names:
        print(f"  {name:<12} {statistics.median(r.get(name, 0.0) for r in rounds):6.2f} ms")


if __name__ == "__main__":
    main()
