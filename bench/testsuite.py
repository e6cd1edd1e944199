"""Benchmark 9: the wall time of ``make test``'s pytest run.

    python bench/testsuite.py [--workers 2]

Runs the command ``make test`` runs after its linter, ``pytest -q -n WORKERS --dist
loadfile``, from the repository root with the environment's Python, and records its wall
time, its exit status and pytest's summary line (how many tests passed, failed, were
skipped). Results go to ``bench/results/testsuite.json``.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, save  # noqa: E402

SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed|skipped|error).*) in [\d.]+s", re.M)


def run(workers: int) -> dict:
    """Run the suite once on ``workers`` processes (0: one process); its time and result."""
    command = [sys.executable, "-m", "pytest", "-q", "-n", str(workers), "--dist", "loadfile"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    found = SUMMARY.findall(done.stdout)
    return {"workers": workers, "seconds": seconds, "returncode": done.returncode,
            "summary": found[-1][0] if found else (done.stdout.strip().splitlines() or [""])[-1],
            "command": " ".join(["python"] + command[1:])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (make test's TEST_WORKERS)")
    args = p.parse_args(argv)
    result = run(args.workers)
    print(result)
    save("testsuite", result)
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
