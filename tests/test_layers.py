"""The import contract: which module may import which, read from the sources and checked at run time.

Layers of ``mediacollect``, lowest first; a module imports only modules of its own layer or
below, and only the modules named in a rule may import asyncio or the browser's FFI:

* core: the rules, the state tables, the tracker and its parts, the wire format, events and
  settings. Sans-I/O: no clock, no asyncio, nothing of delivery or of the page.
* delivery: the retry policy and the outbox (sans-I/O, so never an I/O module either), then the
  driver and the CPython transports (asyncio).
* binding: what turns a page into observations and element commands, and ``browser``, the one
  module that touches ``js``, ``pyodide`` and ``pyscript``.

The emulator reaches the package through one public module, ``mediacollect.rules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mediacollect"
CORE = {"__init__", "_config", "_errors", "_events", "_http", "_lazy", "_state", "_tracker", "_version",
        "_wire", "rules", "_pings", "_seeks", "_stall", "_context", "_qoe", "_stream", "_urls"}
SANS_IO_DELIVERY = {"_retry", "_outbox"}
DELIVERY = SANS_IO_DELIVERY | {"_driver", "transport"}
BINDING = {"_ads", "_chapters", "_inputs", "_player", "_handover", "browser"}
LAYERS = [CORE, DELIVERY, BINDING]
FFI = {"js", "pyodide", "pyscript"}
# Who may import asyncio (the loop and the transports that await) and the browser's FFI.
MAY_IMPORT = {"asyncio": {"_driver", "transport", "browser"}, **{name: {"browser"} for name in FFI}}


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at any depth (function-local imports too), except under
    ``if TYPE_CHECKING:``; the package's own modules as their bare name (``_wire``), the rest as
    their top-level name (``asyncio``)."""
    package = path.parent.name

    def visit(node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (name for child in node.orelse for name in visit(child))
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                yield parts[1] if parts[0] == package and len(parts) > 1 else parts[0]
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 1 and not node.module:  # from . import _wire, rules
                yield from (alias.name for alias in node.names)
            elif node.level == 1:
                yield parts[0]
            elif parts[0] == package and len(parts) == 1:
                yield from (alias.name for alias in node.names)
            elif parts[0] == package:
                yield parts[1]
            else:
                yield parts[0]
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(ast.parse(path.read_text(), str(path)))


def _package_modules() -> dict[str, set[str]]:
    return {path.stem: set(_imports(path)) for path in sorted(PACKAGE.glob("*.py"))}


def _layer(module: str) -> int:
    return next(index for index, layer in enumerate(LAYERS) if module in layer)


def test_every_module_of_the_package_has_a_layer() -> None:
    unplaced = sorted(set(_package_modules()) - set().union(*LAYERS))
    assert not unplaced, f"place these modules in a layer of tests/test_layers.py: {unplaced}"


def test_modules_import_only_their_own_layer_and_below() -> None:
    modules = _package_modules()
    broken = [f"{module} ({['core', 'delivery', 'binding'][_layer(module)]}) imports {name}"
              for module, names in modules.items() for name in sorted(names & set(modules))
              if _layer(name) > _layer(module)]
    assert not broken, broken


def test_the_sans_io_delivery_modules_import_no_io_module() -> None:
    modules = _package_modules()
    broken = [f"{module} imports {name}" for module in sorted(SANS_IO_DELIVERY)
              for name in sorted(modules[module] & {"_driver", "transport", "asyncio"})]
    assert not broken, broken


def test_only_the_named_modules_import_asyncio_or_the_browser() -> None:
    broken = []
    for module, names in _package_modules().items():
        broken += [f"mediacollect.{module} imports {name}" for name in sorted(names & set(MAY_IMPORT))
                   if module not in MAY_IMPORT[name]]
    for path in [*sorted((ROOT / "mediacollect_emulator").glob("*.py")), ROOT / "main.py"]:
        broken += [f"{path.relative_to(ROOT)} imports {name}" for name in sorted(set(_imports(path)) & FFI)]
    assert not broken, broken


def test_the_emulator_imports_only_the_public_rules_module() -> None:
    broken = []
    for path in sorted((ROOT / "mediacollect_emulator").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.split(".")[0] == "mediacollect"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mediacollect":
                names = ([f"mediacollect.{alias.name}" for alias in node.names] if node.module == "mediacollect"
                         else [node.module or ""])
            else:
                continue
            broken += [f"{path.name}: {name}" for name in names if name != "mediacollect.rules"]
    assert not broken, broken


def _loaded_after(statement: str) -> list[str]:
    """The modules a fresh interpreter holds after ``statement``, beyond what it held before."""
    code = ("import sys; before = set(sys.modules); " + statement + "; import json; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("statement", ["import mediacollect.rules", "import mediacollect",
                                       "from mediacollect import Tracker, validate_body",
                                       "import mediacollect_emulator._schemas"])
def test_importing_the_core_loads_no_delivery_binding_or_asyncio(statement: str) -> None:
    loaded = _loaded_after(statement)
    ours = {name.removeprefix("mediacollect.") for name in loaded if name.startswith("mediacollect.")}
    assert ours <= CORE, f"{statement} loads {sorted(ours - CORE)}"
    if not statement.startswith("import mediacollect_emulator"):
        assert "asyncio" not in loaded, f"{statement} loads asyncio"


def test_the_delivery_names_of_the_package_are_loaded_on_first_use() -> None:
    loaded = _loaded_after("import mediacollect; mediacollect.Driver; mediacollect.Outbox")
    assert {"mediacollect._driver", "mediacollect._outbox", "asyncio"} <= set(loaded)
    import mediacollect
    from mediacollect._driver import Driver

    assert mediacollect.Driver is Driver
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        mediacollect.Nothing  # noqa: B018


def test_no_test_module_imports_another() -> None:
    """Shared fixtures and helpers live in one place (tests/helpers.py, a folder's conftest.py or
    harness): a test module imported by another would run its tests twice and tie them together."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")]
    assert offenders == []
