"""The full grading self-check: every topic, every generated submission, timed.

    python -m instructor.selfcheck [--students N] [--workers 1 2] [--timeout 60] [--out DIR]

Generates the submissions of ``instructor.submissions`` for every topic (perfect,
untouched, hostile, one per mistake; ``--students`` trims or pads the list), grades them
once per ``--workers`` value with ``instructor.grading``, checks that every student lost
points in exactly the expected exercises (and that exactly the cheating students are
flagged for review), and prints the marks and the times: one
student with all topics (serially), then all students per worker count. Exit 1 on any
unexpected mark. Takes long (tens of minutes on two cores); the test suite runs a
small part of it (tests/instructor/test_grading.py).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from instructor import grading, submissions


def check(report: grading.Report, expected: dict) -> list[str]:
    """Differences between the exercises that lost points and the expected ones."""
    problems = []
    for student, per_topic in expected.items():
        for topic, loses in per_topic.items():
            lost = {ex for ex, (s, m) in report.exercise_scores(student, topic).items() if s < m}
            if lost != set(loses):
                problems.append(f"{student}/{topic}: lost points in {sorted(lost)}, expected {sorted(loses)}")
            flagged = bool(report.flags.get(student, {}).get(topic))
            if flagged != student.startswith("cheat-"):
                problems.append(f"{student}/{topic}: " + ("flagged for review, but it does not cheat: "
                                                          + report.flags[student][topic][0] if flagged
                                                          else "cheats but was not flagged"))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor selfcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, help="grade this many generated students (default: all of them)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="worker counts to time (default 2)")
    parser.add_argument("--timeout", type=int, default=grading.DEFAULT_TIMEOUT)
    parser.add_argument("--topics", nargs="*")
    parser.add_argument("--out", type=Path, help="keep the graded courses here (default: a temporary folder)")
    args = parser.parse_args(argv)
    work = Path(args.out or tempfile.mkdtemp(prefix="kit-selfcheck-"))
    subs = work / "submissions"
    shutil.rmtree(subs, ignore_errors=True)
    expected = submissions.generate(subs, args.topics, args.students)
    notebooks = sum(len(t) for t in expected.values())
    print(f"{len(expected)} students, {notebooks} notebooks, under {subs}")
    missing = submissions.missing_mistakes()
    if missing:
        print(f"warning: no generated mistake for {', '.join(missing)}")
    quiet = lambda *_: None  # noqa: E731
    one = work / "one"
    shutil.rmtree(one, ignore_errors=True)
    shutil.copytree(subs / "perfect", one / "in" / "perfect")
    report = grading.grade(one / "in", one / "out", args.topics, 1, args.timeout, log=quiet)
    print(f"one student, {len(report.results['perfect'].topics)} topics, 1 worker: "
          f"{report.seconds:.0f} s (grading itself {report.results['perfect'].seconds:.0f} s)")
    failed = False
    for workers in args.workers:
        out = work / f"graded-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        report = grading.grade(subs, out, args.topics, workers, args.timeout, log=quiet)
        print(f"{len(expected)} students, {workers} worker(s): {time.perf_counter() - start:.0f} s")
        problems = check(report, expected)
        failed |= bool(problems)
        print("\n".join(problems) or "every student lost points in exactly the expected exercises")
    print(grading.summary(report))
    (work / "expected.json").write_text(json.dumps(expected, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
