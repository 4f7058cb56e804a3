"""The emulator's fuzz (tests/emulator/test_fuzz.py) with more cases than CI runs, and new ones.

    .venv/bin/python bench/emulator_fuzz.py                       # 100,000 requests, 3,000 fault rules
    .venv/bin/python bench/emulator_fuzz.py --batches 1000 --random

CI runs the same test with 200 batches of 50 requests (10,000) and 300 fault rules, always the
same ones (derandomized). ``--random`` draws new cases on every run (Hypothesis' own seed; a
failure prints the case that failed). Exits with pytest's status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=2000, help="batches of 50 requests (default: %(default)d)")
    parser.add_argument("--faults", type=int, default=3000, help="fault rules (default: %(default)d)")
    parser.add_argument("--random", action="store_true", help="new cases on every run instead of CI's")
    args = parser.parse_args()
    env = {**os.environ, "MEDIACOLLECT_FUZZ_BATCHES": str(args.batches), "MEDIACOLLECT_FUZZ_FAULTS": str(args.faults)}
    if args.random:
        env["MEDIACOLLECT_FUZZ_RANDOM"] = "1"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/emulator/test_fuzz.py", "-q", "-x",
                             "-o", "timeout=0", "-p", "no:cacheprovider"], cwd=ROOT, env=env, check=False)
    took = time.monotonic() - started
    print(f"{args.batches * 50} requests and {args.faults} fault rules in {took:.0f} s: "
          f"{'passed' if result.returncode == 0 else 'FAILED'}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
