"""Run the benchmarks and regenerate BENCHMARKS.md.

    python bench/run.py                 every benchmark (takes about an hour on a 2-core CPU)
    python bench/run.py gatys texture   some of them: gatys, memory, feedforward, notebooks, grading, texture,
                                        balance, threads, testsuite
    python bench/run.py --quick         small sizes, to check the harness (results and report in a temporary folder)

Benchmarks are not tests: they take minutes, and what they report are ratios measured
side by side in one run. Results go to bench/results/NAME.json; BENCHMARKS.md is rebuilt
from every result file present.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.common  # noqa: E402
from bench import report  # noqa: E402
from bench.common import REPO, save  # noqa: E402

NAMES = ("gatys", "memory", "feedforward", "notebooks", "grading", "texture", "balance", "threads", "testsuite")


def notebooks(profiles=("smoke", "cpu")) -> None:
    results = {}
    for profile in profiles:
        out = Path(tempfile.mkdtemp(prefix=f"bench-notebooks-{profile}-"))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "instructor", "demo", "--profile", profile, "--out", str(out)],
                       cwd=REPO, check=True, env={**__import__("os").environ, "KIT_ALLOW_RANDOM_WEIGHTS": "1"})
        summary = json.loads((out / "summary.json").read_text())
        per = {nb["name"]: nb.get("seconds") for nb in summary["notebooks"]}
        results[profile] = {"notebooks": per, "total": time.perf_counter() - t}
    save("notebooks", {"results": results})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*",
                   help=f"benchmarks to run (default: all of {', '.join(NAMES)})")
    p.add_argument("--quick", action="store_true", help="small sizes, to check that everything runs")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    chosen = args.names or list(NAMES)
    py = sys.executable
    report_path = REPO / "BENCHMARKS.md"
    if args.quick:  # quick numbers never replace the real ones: results and report go to a temporary folder
        quick = Path(tempfile.mkdtemp(prefix="bench-quick-"))
        os.environ["BENCH_RESULTS"] = str(quick / "results")   # read by bench.common, here and in every subprocess
        importlib.reload(bench.common)
        importlib.reload(report)
        report_path = quick / "BENCHMARKS.md"
    for name in chosen:
        print(f"== {name}", flush=True)
        if name == "gatys":
            runs = ([["--size", "96", "--iterations", "40", "--kit-iterations", "20", "--runs", "1"]] if args.quick
                    else [["--size", "256", "--runs", "3"], ["--size", "512", "--runs", "1"]])
            for extra in runs:
                subprocess.run([py, "bench/gatys.py", "quality", *extra], cwd=REPO, check=True)
        elif name == "memory":
            extra = ["--size", "128", "--evaluations", "3"] if args.quick else []
            subprocess.run([py, "bench/gatys.py", "memory", *extra], cwd=REPO, check=True)
        elif name == "feedforward":
            extra = ["--sizes", "64", "--repeats", "2"] if args.quick else []
            subprocess.run([py, "bench/feedforward.py", *extra], cwd=REPO, check=True)
        elif name == "texture":
            extra = ["--sample", "32", "--size", "48"] if args.quick else []
            subprocess.run([py, "bench/texture.py", *extra], cwd=REPO, check=True)
        elif name == "grading":
            extra = ["--skip-full", "--students", "2"] if args.quick else []
            subprocess.run([py, "bench/grading.py", *extra], cwd=REPO, check=True)
        elif name == "balance":
            extra = ["--sizes", "64"] if args.quick else []
            subprocess.run([py, "bench/balance.py", *extra], cwd=REPO, check=True)
        elif name == "threads":
            subprocess.run([py, "bench/threads.py", *(["--repeats", "3"] if args.quick else [])], cwd=REPO, check=True)
        elif name == "notebooks":
            notebooks(("smoke",) if args.quick else ("smoke", "cpu"))
        elif name == "testsuite":
            if not args.quick:  # the whole suite: minutes, nothing smaller to check it with
                subprocess.run([py, "bench/testsuite.py"], cwd=REPO, check=True)
    print(report.write(report_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
