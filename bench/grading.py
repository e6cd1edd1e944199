"""Benchmark 5: grading throughput.

* one full submission (the solutions' answers in every topic's student release) autograded
  with one worker: seconds per topic and in all;
* twenty submissions of one topic (the generated perfect, untouched and one-mistake
  submissions, padded with perfect copies) graded with one worker and then with two, the
  speed-up being the ratio of the two wall times measured in the same run.

Submissions come from ``instructor.submissions``; grading is ``instructor.grading.grade``, the
code behind ``python -m instructor grade`` / ``make grade``.

    python bench/grading.py [--topic 01] [--students 20] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save  # noqa: E402


def _scores(report) -> dict[str, dict[str, list[float]]]:
    out = {}
    for student, result in report.results.items():
        for t in result.topics:
            score = sum(s for s, _ in t.grades.values())
            maximum = sum(m for _, m in t.grades.values())
            out.setdefault(student, {})[t.topic] = [score, maximum]
    return out


def one_full_submission(tmp: Path) -> dict:
    from instructor.grading import grade
    from instructor.submissions import generate

    subs = tmp / "full"
    generate(subs, None, students=1, hostile_cases=False)
    t = time.perf_counter()
    report = grade(subs, tmp / "course-full", workers=1, log=lambda *_: None)
    seconds = time.perf_counter() - t
    (student, result), = report.results.items()
    scores = _scores(report)[student]
    return {"student": student, "seconds": seconds, "per_topic": {k: v for k, v in scores.items()},
            "student_seconds": result.seconds,
            "points": [sum(v[0] for v in scores.values()), sum(v[1] for v in scores.values())]}


def many_submissions(tmp: Path, topic: str, students: int, workers: list[int]) -> dict:
    from instructor.grading import grade
    from instructor.submissions import generate

    subs = tmp / f"many-{topic}"
    generate(subs, [topic], students=students, hostile_cases=False)
    runs = {}
    reference = None
    for w in workers:
        t = time.perf_counter()
        report = grade(subs, tmp / f"course-{topic}-{w}", topics=[topic], workers=w, log=lambda *_: None)
        seconds = time.perf_counter() - t
        scores = _scores(report)
        if reference is None:
            reference = scores
        runs[str(w)] = {"seconds": seconds, "students": len(report.results),
                        "same_scores_as_first_run": scores == reference,
                        "per_student_median_s":
                            sorted(r.seconds for r in report.results.values())[len(report.results) // 2]}
        print(f"{len(report.results)} submissions of {topic}, {w} worker(s): {seconds:.1f} s", flush=True)
    base = runs[str(workers[0])]["seconds"]
    for w in workers:
        runs[str(w)]["speed_up"] = base / runs[str(w)]["seconds"]
    return {"topic": topic, "students": students, "runs": runs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topic", default="01", help="topic for the many-submissions run (default 01)")
    p.add_argument("--students", type=int, default=20)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--skip-full", action="store_true", help="leave out the one-full-submission run")
    args = p.parse_args(argv)
    from instructor.coursedir import resolve_topics

    topic = resolve_topics([args.topic])[0]
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        data = {}
        if not args.skip_full:
            data["full"] = one_full_submission(Path(tmp))
            print(f"one full submission: {data['full']['seconds']:.1f} s, {data['full']['points']}", flush=True)
        data["many"] = many_submissions(Path(tmp), topic, args.students, args.workers)
    print(json.dumps({k: v for k, v in data.items()}, default=str)[:2000])
    save("grading", data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
