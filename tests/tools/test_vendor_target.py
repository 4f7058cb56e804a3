"""`make vendor` (and so `make demo`) rebuilds vendor/ only when one of its inputs changed.

Asked with `make -q` (is the target up to date?) about a stamp just written (as after a build)
and `-W FILE` (as if FILE had changed since), so nothing is built here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

INPUTS = ["package-lock.json", "pyproject.toml", "mediacollect/_tracker.py", "mediacollect/shim.js",
          "mediacollect/players.js", "mediacollect/pyodide.mjs", "tools/build_vendor.py", "tools/seal_runtime.py",
          "tools/compile_stdlib.mjs"]
NOT_INPUTS = ["README.md", "docs/hosting.md", "tests/helpers.py", "mediacollect_emulator/site.py",
              "tools/build_dist.py", "index.html", "mediacollect/isolation.js", "tests/streams.py", "examples/hls.html"]


@pytest.fixture
def stamp(tmp_path: Path) -> Path:
    built = tmp_path / "built"
    built.touch()
    return built


def up_to_date(stamp: Path, *changed: str) -> bool:
    flags = [arg for name in changed for arg in ("-W", name)]
    result = subprocess.run(["make", "-q", f"VENDOR_STAMP={stamp}", *flags, "vendor"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


@pytest.mark.parametrize("name", INPUTS)
def test_a_changed_input_rebuilds_vendor(name: str, stamp: Path) -> None:
    assert (ROOT / name).is_file()
    assert up_to_date(stamp)
    assert not up_to_date(stamp, name)


@pytest.mark.parametrize("name", NOT_INPUTS)
def test_other_files_do_not(name: str, stamp: Path) -> None:
    assert (ROOT / name).is_file()
    assert up_to_date(stamp, name)
