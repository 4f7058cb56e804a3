"""The emulator as a person runs it: --help, loopback by default, stops on SIGTERM, keeps data."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.core.test_rules import START
from tests.helpers import ROOT, start_emulator, stop_emulator


def test_help_lists_the_options() -> None:
    result = subprocess.run([sys.executable, "-m", "mediacollect_emulator", "--help"], capture_output=True,
                            text=True, check=True, cwd=ROOT)
    for option in ("--host", "--api-port", "--site-port", "--db", "--no-expose-location", "--site-root"):
        assert option in result.stdout


def test_it_binds_loopback_and_a_named_database_survives_a_restart(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path)
    try:
        assert "Demo page: http://127.0.0.1:" in emulator.log()
        request = urllib.request.Request(emulator.endpoint + "/api/v1/sessions", data=json.dumps(START).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        sid = emulator.get("/_emulator/sessions")[0]["sid"]
    finally:
        stop_emulator(emulator)
    assert emulator.process.returncode == 0, emulator.log()
    db = tmp_path / f"emulator-{emulator.api_port}.sqlite3"
    restarted = start_emulator(tmp_path, "--db", str(db))
    try:
        assert [s["sid"] for s in restarted.get("/_emulator/sessions")] == [sid]
    finally:
        stop_emulator(restarted)
