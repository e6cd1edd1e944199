"""The course folder ``--out`` and its gradebook, which only the main process writes.

``prepare_course`` sets the course up (``nbgrader generate_assignment`` for each topic)
and returns the template gradebook that every job copies; ``merge`` writes one finished
job into the course (files, then scores through nbgrader's ``Gradebook`` API), one job at
a time; ``export_csv`` is ``nbgrader export`` to ``grades.csv``.
"""
from __future__ import annotations

import sqlite3
import tempfile
import warnings
from pathlib import Path

from instructor.coursedir import SOLUTIONS, Course
from instructor.grading.jobs import StudentResult

FORMGRADER_CONFIG = '''# Written by instructor.grading: this folder is an nbgrader course. Grade the written
# answers here with the formgrader: `jupyter lab` in this folder, then Nbgrader → Formgrader.
import os
c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
'''


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
