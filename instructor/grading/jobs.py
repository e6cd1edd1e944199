"""One student's grading job, run in a throw-away nbgrader course with a private gradebook copy.

A job (``StudentJob``) is plain data: the student's notebooks, the template gradebook and
the limits. ``grade_student`` autogrades it and generates the feedback, then returns a
``StudentResult`` (scores, comments, graded notebooks and feedback pages), plain data as
well, so a job runs the same in a local thread or on a Dask worker.
"""
from __future__ import annotations

import html
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from instructor.coursedir import REPO, Course

DEFAULT_TIMEOUT = 60

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
    ["instructor.grading.guard.HideRestoredNotebook"]
    + list(Autograde.class_traits()["autograde_preprocessors"].default())
    + ["instructor.grading.guard.LimitOutputSize"])
# Feedback shows the hidden tests' results and messages, not their code (it is reused).
c.GenerateFeedback.preprocessors = (
    ["instructor.grading.guard.HiddenTestTracebacks", "nbgrader.preprocessors.ClearHiddenTests"]
    + list(GenerateFeedback.class_traits()["preprocessors"].default()))
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
    """What grading one topic of one student gave, as plain data."""

    topic: str
    grades: dict[str, tuple[float, float]]          # grade_id → (score, max score), autograded cells
    comments: dict[str, str] = field(default_factory=dict)
    manual: dict[str, float] = field(default_factory=dict)  # grade_id → max score, written answers to grade by hand
    files: dict[str, bytes] = field(default_factory=dict)   # "autograded/…", "feedback/…" → content
    errors: list[str] = field(default_factory=list)          # cells that raised, in order
    failure: str | None = None                                # why nbgrader could not grade it


@dataclass
class StudentResult:
    """A finished job: the student's topics and the seconds the job took."""

    student: str
    topics: list[TopicResult]
    seconds: float = 0.0


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

