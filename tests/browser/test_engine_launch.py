"""A WebKit launch whose driver never answers the new session is killed and made again, within
a bound: a driver that hangs cannot stall the suite (tests/browser/engines.py, launch_within).

The driver here is a stand-in for WebKitWebDriver: it listens where Selenium tells it, starts a
child as the real one starts its browser, and never answers; or, for its second launch, hands
over to the real driver.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.engines import (
    KILL_GRACE,
    LAUNCH_ATTEMPTS,
    MINIBROWSER,
    WEBKIT_DRIVER,
    LaunchHung,
    WebKitEngine,
    virtual_display,
)

# argv: -p PORT (Selenium's); the directory its launches are counted in; the real driver, or "" to
# hang on every launch.
HANGING_DRIVER = """#!{python}
import os, socket, subprocess, sys, time
port = int(sys.argv[sys.argv.index("-p") + 1])
where, real = {where!r}, {real!r}
launch = len(os.listdir(where)) + 1
if real and launch > 1:
    os.execv(real, [real, "-p", str(port)])
browser = subprocess.Popen(["sleep", "600"])
with open(os.path.join(where, str(launch)), "w") as f:
    f.write(f"{{os.getpid()}} {{browser.pid}}")
server = socket.create_server(("127.0.0.1", port))
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)  # read nothing, answer nothing
"""


def hanging_driver(tmp_path: Path, real: str = "") -> tuple[Path, Path]:
    launches = tmp_path / "launches"
    launches.mkdir()
    driver = tmp_path / "WebKitWebDriver"
    driver.write_text(HANGING_DRIVER.format(python=sys.executable, where=str(launches), real=real))
    driver.chmod(0o755)
    return driver, launches


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def launched_pids(launches: Path) -> list[int]:
    return [int(pid) for f in sorted(launches.iterdir()) for pid in f.read_text().split()]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with virtual_display() as name:
        yield name


def test_a_driver_that_never_answers_fails_the_launch_within_its_bound(tmp_path: Path) -> None:
    driver, launches = hanging_driver(tmp_path)
    timeout = 2.0
    began = time.monotonic()
    with pytest.raises(LaunchHung):
        WebKitEngine(":0", tmp_path / "webkit.log", driver=str(driver), launch_timeout=timeout)
    took = time.monotonic() - began
    assert len(list(launches.iterdir())) == LAUNCH_ATTEMPTS, "made again, as many times as allowed, no more"
    assert took < LAUNCH_ATTEMPTS * (timeout + KILL_GRACE), f"the bound is the launch's promise ({took:.1f} s)"
    assert [pid for pid in launched_pids(launches) if alive(pid)] == [], "each hung driver and its browser killed"


def test_a_launch_that_hung_is_made_again_and_runs(tmp_path: Path, display: str) -> None:
    for path in (WEBKIT_DRIVER, MINIBROWSER):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: install Debian's webkit2gtk-driver (`make test` does it)")
    driver, launches = hanging_driver(tmp_path, real=WEBKIT_DRIVER)
    engine = WebKitEngine(display, tmp_path / "webkit.log", driver=str(driver), launch_timeout=5.0)
    try:
        assert engine.evaluate("return 6 * 7") == 42
        assert [f.name for f in launches.iterdir()] == ["1"], "the first launch hung, the second is the real driver"
        assert [pid for pid in launched_pids(launches) if alive(pid)] == [], "the hung one was killed"
    finally:
        engine.close()
