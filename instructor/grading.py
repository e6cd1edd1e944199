"""``python -m instructor grade``: autograde a folder of submissions, in parallel, with feedback.

    python -m instructor grade SUBMISSIONS [--workers N] [--timeout S] [--out DIR]
                            [--topics 01 07] [--regexp RE] [--dask ADDRESS|local]

SUBMISSIONS is nbgrader's ``submitted/`` layout or an LMS download (folder or zip; see
``instructor.collect``). The results land in the course folder ``--out`` (default
``build/grading``): ``gradebook.db``, ``autograded/`` and ``feedback/<student>/<topic>/``
(nbgrader's layout, so ``nbgrader`` commands work there too), ``grades.csv``
(``nbgrader export``: one row per student and topic), ``exercises.csv`` (one row per
student, topic and graded exercise) and ``summary.txt`` (the table printed at the end).

How parallel grading keeps the gradebook sound
----------------------------------------------
nbgrader's sqlite gradebook is not meant for several writers. So every student is graded
by one *job* that needs nothing from the others: it creates a throw-away nbgrader course
with its **own copy** of a template gradebook (the assignments as ``generate_assignment``
wrote them, no students), autogrades that student's topics there, generates the feedback
there, and returns the scores, comments, graded notebooks and feedback pages as data.
Only the main process writes the main gradebook, one finished job at a time (``merge``),
through nbgrader's own ``Gradebook`` API. N jobs run at once on N local workers (threads
that each drive their own nbgrader processes) or on a Dask cluster (``--dask``), where a
job travels as plain data, so a worker machine needs only the kit installed.

Hardening (each case is tested with generated submissions, see ``instructor.submissions``)
-----------------------------------------------------------------------------------------
- every cell runs under ``--timeout`` seconds (default 60: a whole notebook runs in under
  60 s in grading mode); a cell past it is interrupted, fails, and grading goes on;
  a notebook whose grading exceeds its overall limit (``notebook_limit``) is killed;
- test cells a student edited or deleted are restored from the gradebook (nbgrader's
  ``OverwriteCells``, with ``add_missing_cells`` on);
- stream output is cut to 20 000 characters per output, 50 outputs per cell
  (``instructor.grading_guard``), so feedback pages stay small;
- a kernel that dies (``os._exit``) or a notebook nbgrader cannot grade scores 0 on
  every test of that notebook, and its feedback page says what happened;
- the kernel's working folder holds only that student's notebook: the gradebook (which
  contains the hidden tests) lives outside the course folder, and the restored notebook
  nbgrader writes next to the kernel is deleted before it runs
  (``grading_guard.HideRestoredNotebook``). Code can still read any file the grading
  user can: grade exams where ``solutions/`` is not on disk (a Dask worker, a container).
"""
from __future__ import annotations

import argparse
import csv
import html
import io
import json
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from helpers.devices import threads_per_process
from instructor.collect import CollectError, Submission, collect
from instructor.coursedir import RELEASE, REPO, SOLUTIONS, Course, resolve_topics
from instructor.tampering import flags_for, reference_for

DEFAULT_TIMEOUT = 60
DEFAULT_OUT = REPO / "build" / "grading"

WORKER_CONFIG = '''# Written by instructor.grading for one throw-away grading course.
c = get_config()  # noqa: F821
import importlib.util
import sys
if importlib.util.find_spec("instructor") is None:  # a checkout used without installing it
    sys.path.insert(0, {repo!r})
c.OverwriteCells.add_missing_cells = True
from nbgrader.converters.autograde import Autograde
from nbgrader.converters.generate_feedback import GenerateFeedback
c.Autograde.autograde_preprocessors = (
    ["instructor.grading_guard.HideRestoredNotebook"]
    + list(Autograde.class_traits()["autograde_preprocessors"].default())
    + ["instructor.grading_guard.LimitOutputSize"])
# Feedback shows the hidden tests' results and messages, not their code (it is reused).
c.GenerateFeedback.preprocessors = (
    ["instructor.grading_guard.HiddenTestTracebacks", "nbgrader.preprocessors.ClearHiddenTests"]
    + list(GenerateFeedback.class_traits()["preprocessors"].default()))
'''


FORMGRADER_CONFIG = '''# Written by instructor.grading: this folder is an nbgrader course. Grade the written
# answers here with the formgrader: `jupyter lab` in this folder, then Nbgrader → Formgrader.
import os
c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
'''


@dataclass
class StudentJob:
    """Everything one worker needs to grade one student, as plain data."""

    student: str
    notebooks: dict[str, dict[str, bytes]]         # topic → notebook name → file content
    timestamps: dict[str, str | None]
    template_db: bytes
    timeout: int = DEFAULT_TIMEOUT
    notebook_limit: int | None = None               # seconds per notebook; default 15 × timeout
    threads: int | None = None                      # torch threads of the student's kernels (None: default)


@dataclass
class TopicResult:
    topic: str
    grades: dict[str, tuple[float, float]]          # grade_id → (score, max score), autograded cells
    comments: dict[str, str] = field(default_factory=dict)
    manual: dict[str, float] = field(default_factory=dict)  # grade_id → max score, written answers to grade by hand
    files: dict[str, bytes] = field(default_factory=dict)   # "autograded/…", "feedback/…" → content
    errors: list[str] = field(default_factory=list)          # cells that raised, in order
    failure: str | None = None                                # why nbgrader could not grade it


@dataclass
class StudentResult:
    student: str
    topics: list[TopicResult]
    seconds: float = 0.0


# --------------------------------------------------------------------------- the job


def grade_student(job: StudentJob) -> StudentResult:
    """Autograde one student in a throw-away course with a private gradebook copy.

    One ``nbgrader autograde`` and one ``generate_feedback`` for all of the student's
    topics; nbgrader goes on past a notebook it cannot grade and removes its output,
    which is how a failed topic is told apart.
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kit-grade-") as course_dir, \
            tempfile.TemporaryDirectory(prefix="kit-gradebook-") as db_dir:
        root, db = Path(course_dir), Path(db_dir) / "gradebook.db"
        db.write_bytes(job.template_db)
        (root / "nbgrader_config.py").write_text(WORKER_CONFIG.format(repo=str(REPO)), encoding="utf-8")
        course = Course(root, timeout=job.timeout, db_path=db, threads=job.threads)
        for topic, notebooks in job.notebooks.items():
            folder = root / "submitted" / job.student / topic
            folder.mkdir(parents=True)
            for name, data in notebooks.items():
                (folder / name).write_bytes(data)
            if job.timestamps.get(topic):
                (folder / "timestamp.txt").write_text(job.timestamps[topic], encoding="utf-8")
        limit = job.notebook_limit or 15 * job.timeout
        count = sum(len(n) for n in job.notebooks.values())
        proc = course.nbgrader("autograde", "*", f"--student={job.student}", "--create", "--force",
                               check=False, wall_timeout=limit * count)
        course.nbgrader("generate_feedback", "*", f"--student={job.student}", "--force", check=False,
                        wall_timeout=limit * count)
        results = [_collect_topic(course, job, topic, proc, limit) for topic in sorted(job.notebooks)]
    return StudentResult(job.student, results, time.perf_counter() - start)


def _collect_topic(course: Course, job: StudentJob, topic: str, proc, limit: float) -> TopicResult:
    graded_dir = course.root / "autograded" / job.student / topic
    graded = sorted(graded_dir.glob("*.ipynb")) if graded_dir.is_dir() else []
    result = TopicResult(topic, grades={})
    if len(graded) < len(job.notebooks[topic]):
        result.failure = _failure_reason(proc, limit)
    result.grades, result.comments, result.manual = _read_scores(course.db_url, topic, job.student,
                                                                 failed=bool(result.failure))
    for nb in graded:
        result.errors += cell_errors(json.loads(nb.read_text(encoding="utf-8")))
        result.files[f"autograded/{job.student}/{topic}/{nb.name}"] = nb.read_bytes()
    if not result.failure:
        for page in sorted((course.root / "feedback" / job.student / topic).glob("*.html")):
            result.files[f"feedback/{job.student}/{topic}/{page.name}"] = page.read_bytes()
    if not any(k.startswith("feedback/") for k in result.files):
        for name in job.notebooks[topic]:
            page = failure_page(job.student, topic, name, result)
            result.files[f"feedback/{job.student}/{topic}/{Path(name).stem}.html"] = page.encode("utf-8")
    return result


def _failure_reason(proc, limit: float) -> str:
    log = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode == -9:
        return f"grading this notebook took longer than its limit of {limit:.0f} s and was stopped"
    if "DeadKernelError" in log or "Kernel died" in log:
        return ("the notebook's Python kernel died while it ran (for example `os._exit`, `sys.exit` in a "
                "thread, or running out of memory), so none of its tests could run")
    lines = [l.replace("[AutogradeApp | ERROR]", "").strip() for l in log.splitlines()
             if "| ERROR]" in l and "see the the above traceback" not in l and "There was an error" not in l]
    return "nbgrader could not grade this notebook: " + ("; ".join(lines[:2]) if lines else f"exit {proc.returncode}")


def _read_scores(db_url: str, topic: str, student: str, failed: bool):
    """``(grades, comments, manual)`` of one submission from a gradebook; zeros when grading failed.

    ``manual`` holds the written answers (nbgrader's manually graded cells): autograding
    leaves them without a score, for the instructor to grade in the formgrader.
    """
    from nbgrader.api import Gradebook, MissingEntry

    grades, comments, manual = {}, {}, {}
    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(topic, student)
        except MissingEntry:
            submission = None
        if submission is None or failed:
            for nb in gb.find_assignment(topic).notebooks:
                for cell in nb.grade_cells:
                    if cell.cell_type == "markdown":
                        manual[cell.name] = float(cell.max_score)
                    else:
                        grades[cell.name] = (0.0, float(cell.max_score))
            return grades, comments, manual
        for nb in submission.notebooks:
            for grade in nb.grades:
                if grade.cell.cell_type == "markdown":
                    manual[grade.name] = float(grade.max_score)
                else:
                    grades[grade.name] = (float(grade.score), float(grade.max_score))
            for comment in nb.comments:
                if comment.auto_comment:
                    comments[comment.name] = comment.auto_comment
    return grades, comments, manual


def cell_errors(nb: dict) -> list[str]:
    """``"cell 3 (set-up): RuntimeError: …"`` for every code cell that raised."""
    out = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or "not graded"
                value = (o.get("evalue") or "").strip().splitlines()
                out.append(f"cell {index} ({label}): {o.get('ename')}" + (f": {value[0][:160]}" if value else ""))
    return out


def failure_page(student: str, topic: str, name: str, result: TopicResult) -> str:
    """A feedback page for a notebook nbgrader could not grade."""
    total = sum(m for _, m in result.grades.values())
    errors = "".join(f"<li>{html.escape(e)}</li>" for e in result.errors)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}: feedback</title></head>"
            f"<body><h1>{html.escape(topic)} / {html.escape(name)}</h1><p>Student: {html.escape(student)}</p>"
            f"<p><strong>Score: 0 / {total:g}.</strong> {html.escape(result.failure or '')}.</p>"
            + (f"<p>Cells that raised an error before that:</p><ul>{errors}</ul>" if errors else "")
            + "<p>Run the notebook from the top in a fresh kernel (Kernel → Restart &amp; Run All) "
              "to find the cell that stops it.</p></body></html>")


# --------------------------------------------------------------------------- the course


def prepare_course(out: Path, topics: list[str], solutions: Path = SOLUTIONS) -> bytes:
    """Set up the main course in ``out`` and return the template gradebook for the jobs.

    ``nbgrader generate_assignment`` runs in ``out`` for each topic (so its gradebook knows
    the assignments and keeps earlier grading runs); the template is a copy of that
    gradebook without any student.
    """
    from nbgrader.api import Gradebook

    course = Course(out)
    out.mkdir(parents=True, exist_ok=True)
    # So that nbgrader's formgrader, started in this folder, grades the written answers here.
    (out / "nbgrader_config.py").write_text(FORMGRADER_CONFIG, encoding="utf-8")
    for topic in topics:
        course.add_source(topic, solutions)
        course.generate(topic)
    with tempfile.TemporaryDirectory(prefix="kit-template-") as tmp:
        copy = Path(tmp) / "gradebook.db"
        _copy_sqlite(out / "gradebook.db", copy)
        with Gradebook(f"sqlite:///{copy}") as gb:
            for student in list(gb.students):
                gb.remove_student(student.id)
        return copy.read_bytes()


def _copy_sqlite(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def merge(out: Path, result: StudentResult, timestamps: dict[str, str | None]) -> None:
    """Write one finished job into the main course: files, then its scores into the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    for topic_result in result.topics:
        for rel, data in topic_result.files.items():
            target = out / rel
            if target.exists():
                target.chmod(0o644)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        gb.update_or_create_student(result.student)
        for tr in result.topics:
            try:
                gb.find_submission(tr.topic, result.student)
            except MissingEntry:
                pass
            else:
                gb.remove_submission(tr.topic, result.student)
            stamp = timestamps.get(tr.topic)
            kwargs = {"timestamp": stamp} if stamp else {}
            with warnings.catch_warnings():
                # nbgrader's add_submission builds its rows in a way SQLAlchemy 2 warns about
                # ("not in session"); the rows are saved all the same (tests read them back).
                warnings.filterwarnings("ignore", message=".*not in session.*")
                submission = gb.add_submission(tr.topic, result.student, **kwargs)
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if grade.name in tr.manual:        # a written answer: left for the formgrader
                        grade.auto_score = None
                        grade.needs_manual_grade = True
                        continue
                    score, _ = tr.grades.get(grade.name, (0.0, 0.0))
                    grade.auto_score = score
                    grade.needs_manual_grade = False
                for comment in nb.comments:
                    comment.auto_comment = tr.comments.get(comment.name)
            gb.db.commit()


def export_csv(out: Path) -> Path:
    """``nbgrader export`` of the main gradebook to ``out/grades.csv``."""
    Course(out).nbgrader("export", f"--to={out / 'grades.csv'}")
    return out / "grades.csv"


# --------------------------------------------------------------------------- running it all


def exercise_of(solutions: Path, topic: str) -> dict[str, str]:
    """``{test grade_id: exercise}``: each test cell belongs to the solution cell before it."""
    nb = json.loads(next((solutions / topic).glob("*.ipynb")).read_text(encoding="utf-8"))
    owner, current = {}, None
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            current = meta["grade_id"]
        elif meta.get("grade"):
            owner[meta["grade_id"]] = current or meta["grade_id"]
    return owner


@dataclass
class Report:
    results: dict[str, StudentResult]
    exercises: dict[str, dict[str, str]]            # topic → test grade_id → exercise
    warnings: list[str]
    seconds: float
    #: student → topic → what ``instructor.tampering`` found in the submitted notebook (for a look)
    flags: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def exercise_scores(self, student: str, topic: str) -> dict[str, tuple[float, float]]:
        out: dict[str, list[float]] = {}
        for tr in self.results[student].topics:
            if tr.topic == topic:
                for grade_id, (score, maximum) in tr.grades.items():
                    ex = self.exercises[topic].get(grade_id, grade_id)
                    acc = out.setdefault(ex, [0.0, 0.0])
                    acc[0] += score
                    acc[1] += maximum
        return {k: (v[0], v[1]) for k, v in out.items()}

    def topic_result(self, student: str, topic: str) -> TopicResult | None:
        return next((t for t in self.results[student].topics if t.topic == topic), None)


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


# --------------------------------------------------------------------------- reports


def write_exercise_csv(report: Report, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "topic", "exercise", "score", "max_score", "problems"])
        for student in sorted(report.results):
            for tr in report.results[student].topics:
                problems = "; ".join(([tr.failure] if tr.failure else []) + tr.errors[:3])
                for ex, (score, maximum) in report.exercise_scores(student, tr.topic).items():
                    writer.writerow([student, tr.topic, ex, f"{score:g}", f"{maximum:g}", problems])


def summary(report: Report) -> str:
    """Per topic, a table of students × exercises (score/max), then each student's total."""
    buf = io.StringIO()
    topics = sorted({t.topic for r in report.results.values() for t in r.topics})
    for topic in topics:
        students = [s for s in sorted(report.results) if report.topic_result(s, topic)]
        exercises = list(dict.fromkeys(report.exercises[topic].values()))
        rows = [["student", *exercises, "total", "problems"]]
        for s in students:
            scores = report.exercise_scores(s, topic)
            tr = report.topic_result(s, topic)
            total = sum(v[0] for v in scores.values()), sum(v[1] for v in scores.values())
            problem = tr.failure or (tr.errors[0] if tr.errors else "")
            rows.append([s, *(f"{scores[e][0]:g}/{scores[e][1]:g}" if e in scores else "-" for e in exercises),
                         f"{total[0]:g}/{total[1]:g}", problem[:70]])
        buf.write(f"\n{topic}\n{_table(rows)}\n")
    rows = [["student", "total", "max", "seconds"]]
    for s in sorted(report.results):
        r = report.results[s]
        score = sum(v[0] for t in r.topics for v in t.grades.values())
        maximum = sum(v[1] for t in r.topics for v in t.grades.values())
        rows.append([s, f"{score:g}", f"{maximum:g}", f"{r.seconds:.0f}"])
    buf.write(f"\nall topics\n{_table(rows)}\n")
    waiting = {s: sum(v for t in r.topics for v in t.manual.values()) for s, r in report.results.items()}
    if any(waiting.values()):
        cells = sum(len(t.manual) for r in report.results.values() for t in r.topics)
        buf.write(f"\nneeds manual grading: {cells} written answers ({sum(waiting.values()):g} points, not in the "
                  "totals above). Grade them in nbgrader's formgrader: run `jupyter lab` in this folder (the kit's "
                  "`make lab` installs it), then Nbgrader → Formgrader; `nbgrader export` there then adds them "
                  "to grades.csv.\n")
    if report.flags:
        buf.write("\nflagged for review (code that reaches into what the tests use; marks are unaffected)\n")
        for student, per_topic in sorted(report.flags.items()):
            for topic, flagged in sorted(per_topic.items()):
                buf.write("".join(f"  {student}/{topic}: {f}\n" for f in flagged))
    return buf.getvalue()


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
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
