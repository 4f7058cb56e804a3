"""The core's tests again, inside Pyodide: the runtime the page uses, not just CPython.

Node runs the npm ``pyodide`` package (the one vendor/ is built from); pytest and Hypothesis
wheels for Python 3.14 are unpacked into it. Everything under tests/core runs there except
the driver's real-HTTP tests (threads and sockets are CPython-only) and this file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT

WHEELS = ROOT / "build" / "pyodide-test-wheels"
# Hypothesis releases newer than this require a build that has no py3-none-any wheel for 3.14.
TEST_REQUIREMENTS = ["pytest==8.4.2", "hypothesis==6.155.7"]


def download_test_wheels() -> None:
    if not WHEELS.is_dir() or not any(WHEELS.glob("pytest-*.whl")):
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", "3.14",
             "--implementation", "py", "--abi", "none", "--platform", "any", "-d", str(WHEELS),
             *TEST_REQUIREMENTS],
            check=True,
        )


def test_core_suite_passes_in_pyodide() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.fail("node and node_modules/pyodide are needed (`make vendor` runs `npm ci`)")
    download_test_wheels()
    result = subprocess.run(
        [node, "tools/pyodide_pytest.mjs", str(WHEELS), "-q", "-rs", "/repo/tests/core",
         "--ignore=/repo/tests/core/test_driver.py", "--ignore=/repo/tests/core/test_in_pyodide.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "running in CPython 3.14" in result.stdout and "emscripten" in result.stdout, output
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 140, summary
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert not [line for line in skipped if "test_driver_sends_at_once" in line], "the eager-send tests run here"
