"""``python -m instructor grade``: autograde a folder of submissions, in parallel, with feedback.

``grade`` reads the submissions (``collect``), sets up the course folder (``gradebook``),
runs one job per student (``jobs``) on local workers or a Dask cluster, merges each
finished job, flags tampering and writes the reports (``report``); ``main`` is its
command line. The package docstring (``instructor.grading``) tells the whole story.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from helpers.devices import threads_per_process
from instructor.coursedir import RELEASE, REPO, SOLUTIONS, resolve_topics
from instructor.grading.collect import CollectError, Submission, collect
from instructor.grading.gradebook import export_csv, merge, prepare_course
from instructor.grading.jobs import DEFAULT_TIMEOUT, StudentJob, grade_student
from instructor.grading.report import Report, exercise_of, summary, write_exercise_csv
from instructor.grading.tampering import flags_for, reference_for

DEFAULT_OUT = REPO / "build" / "grading"


def grade(source: Path, out: Path = DEFAULT_OUT, topics: list[str] | None = None, workers: int = 1,
          timeout: int = DEFAULT_TIMEOUT, regexp: str | None = None, dask: str | None = None,
          solutions: Path = SOLUTIONS, release: Path = RELEASE, log=print) -> Report:
    """Grade every student in ``source``; write the course folder ``out``; return a ``Report``."""
    start = time.perf_counter()
    out = Path(out).resolve()
    selected = resolve_topics(topics, solutions)
    with tempfile.TemporaryDirectory(prefix="kit-collect-") as tmp:
        # The committed release has the same notebook names as the one generated below.
        found, warnings = collect(Path(source), selected, release, Path(tmp), regexp)
        for w in warnings:
            log(f"warning: {w}")
        log(f"setting up the course in {out} ({', '.join(selected)})")
        template = prepare_course(out, selected, solutions)
        threads = threads_per_worker(workers, dask)
        jobs = [_job(student, subs, template, timeout, threads) for student, subs in sorted(found.items())]
        _place_submitted(out, found)
        results = {}
        for result in _run(jobs, workers, dask, log):
            merge(out, result, next(j.timestamps for j in jobs if j.student == result.student))
            results[result.student] = result
            lost = [t.topic for t in result.topics if t.failure]
            log(f"graded {result.student} in {result.seconds:.1f} s"
                + (f" (not gradable: {', '.join(lost)})" if lost else ""))
        flags = tampering_flags(found, release, solutions)
        for student, per_topic in sorted(flags.items()):
            for topic, found_flags in per_topic.items():
                log(f"flagged {student}/{topic} for review: {found_flags[0]}"
                    + (f" (and {len(found_flags) - 1} more)" if len(found_flags) > 1 else ""))
    export_csv(out)
    report = Report(results, {t: exercise_of(solutions, t) for t in selected}, warnings, time.perf_counter() - start,
                    flags)
    write_exercise_csv(report, out / "exercises.csv")
    (out / "summary.txt").write_text(summary(report), encoding="utf-8")
    return report


def tampering_flags(found: dict[str, dict[str, Submission]], release: Path,
                    solutions: Path) -> dict[str, dict[str, list[str]]]:
    """``{student: {topic: flags}}`` for the submissions with code that reaches into the tests' names."""
    out: dict[str, dict[str, list[str]]] = {}
    references = {topic: reference_for(release, solutions, topic)
                  for topic in sorted({t for subs in found.values() for t in subs})}
    for student, subs in found.items():
        for topic, sub in subs.items():
            flagged = [f for path in sub.files.values() for f in flags_for(path, references[topic])]
            if flagged:
                out.setdefault(student, {})[topic] = flagged
    return out


def threads_per_worker(workers: int, dask: str | None = None) -> int | None:
    """Torch threads for each student's kernels: the cores shared between the local workers.

    One worker keeps torch's default (all cores). N local workers get ``cores // N`` each
    (at least 1), so N kernels never run more threads than there are cores; on a Dask
    cluster the machines are unknown here, so each kernel gets 1 (the local cluster starts
    one single-threaded process per worker).
    """
    return 1 if dask else threads_per_process(workers)


def _job(student: str, subs: dict[str, Submission], template: bytes, timeout: int,
         threads: int | None = None) -> StudentJob:
    return StudentJob(student=student, threads=threads,
                      notebooks={t: {n: p.read_bytes() for n, p in s.files.items()} for t, s in subs.items()},
                      timestamps={t: s.timestamp for t, s in subs.items()},
                      template_db=template, timeout=timeout)


def _place_submitted(out: Path, found: dict[str, dict[str, Submission]]) -> None:
    """Copy the submissions into ``out/submitted/`` (nbgrader's layout) for the record."""
    for student, subs in found.items():
        for topic, sub in subs.items():
            folder = out / "submitted" / student / topic
            folder.mkdir(parents=True, exist_ok=True)
            for name, path in sub.files.items():
                if path.resolve() != (folder / name).resolve():
                    shutil.copyfile(path, folder / name)
            if sub.timestamp:
                (folder / "timestamp.txt").write_text(sub.timestamp, encoding="utf-8")


def _run(jobs: list[StudentJob], workers: int, dask: str | None, log):
    """Yield ``StudentResult``s as jobs finish, from local workers or a Dask cluster."""
    if dask:
        yield from _run_dask(jobs, workers, dask, log)
        return
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        for job in jobs:
            yield grade_student(job)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(grade_student, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def _run_dask(jobs: list[StudentJob], workers: int, address: str, log):
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RuntimeError("--dask needs dask.distributed: pip install -e '.[dask]'") from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None, processes=True)
        address = cluster.scheduler_address
    try:
        with Client(address) as client:
            log(f"submitting {len(jobs)} students to the Dask scheduler at {address}")
            futures = [client.submit(grade_student, job, key=f"grade-{job.student}", pure=False) for job in jobs]
            for future in dask_completed(futures):
                yield future.result()
    finally:
        if cluster is not None:
            cluster.close()



def main(argv: list[str]) -> int:
    """``python -m instructor grade``: grade, print the summary and say where the results are.

    Args:
        argv: the command line after ``grade``.

    Returns:
        The exit status: 0, or 2 when the arguments or the submissions are unusable.
    """
    parser = argparse.ArgumentParser(prog="python -m instructor grade", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="submitted/ folder, LMS download folder, or .zip")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"course folder for results (default {DEFAULT_OUT.relative_to(REPO)})")
    parser.add_argument("--topics", nargs="*", help="topic numbers or names (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="students graded at once (default 1)")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT,
                        help=f"seconds per cell (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--regexp", help="LMS file names: regexp with groups student_id, file_id[, timestamp]")
    parser.add_argument("--dask", metavar="ADDRESS", help="grade on a Dask cluster (tcp://host:8786), or 'local'")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.timeout < 1:
        print("error: --workers and --timeout must be at least 1", file=sys.stderr)
        return 2
    try:
        report = grade(args.submissions, args.out, args.topics, args.workers, args.timeout, args.regexp, args.dask)
    except (CollectError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(report))
    out = args.out.resolve()
    print(f"{len(report.results)} students graded in {report.seconds:.0f} s; grades: {out / 'grades.csv'}, "
          f"per exercise: {out / 'exercises.csv'}, feedback: {out / 'feedback'}/<student>/<topic>/")
    return 0
