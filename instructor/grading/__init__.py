"""Autograding through nbgrader, in parallel, with feedback: ``python -m instructor grade``.

    python -m instructor grade SUBMISSIONS [--workers N] [--timeout S] [--out DIR]
                            [--topics 01 07] [--regexp RE] [--dask ADDRESS|local]

SUBMISSIONS is nbgrader's ``submitted/`` layout or an LMS download (folder or zip; see
``instructor.grading.collect``). The results land in the course folder ``--out`` (default
``build/grading``): ``gradebook.db``, ``autograded/`` and ``feedback/<student>/<topic>/``
(nbgrader's layout, so ``nbgrader`` commands work there too), ``grades.csv``
(``nbgrader export``: one row per student and topic), ``exercises.csv`` (one row per
student, topic and graded exercise) and ``summary.txt`` (the table printed at the end).

Modules
-------
- ``run``: ``grade`` (everything below, in order) and ``main``, its command line; local
  workers or a Dask cluster;
- ``collect``: finding each student's notebooks in what the instructor downloaded;
- ``jobs``: one student's job, graded in a throw-away nbgrader course;
- ``gradebook``: the course folder ``--out``, its gradebook, and the merge of finished jobs into it;
- ``guard``: the nbgrader preprocessors that harden autograding (listed in each job's config);
- ``tampering``: the report's flags on code that reaches into what the tests use;
- ``report``: ``Report``, ``exercises.csv`` and the summary table.

How parallel grading keeps the gradebook sound
----------------------------------------------
nbgrader's sqlite gradebook is not meant for several writers. So every student is graded
by one *job* that needs nothing from the others: it creates a throw-away nbgrader course
with its **own copy** of a template gradebook (the assignments as ``generate_assignment``
wrote them, no students), autogrades that student's topics there, generates the feedback
there, and returns the scores, comments, graded notebooks and feedback pages as data.
Only the main process writes the main gradebook, one finished job at a time
(``gradebook.merge``), through nbgrader's own ``Gradebook`` API. N jobs run at once on N
local workers (threads that each drive their own nbgrader processes) or on a Dask cluster
(``--dask``), where a job travels as plain data, so a worker machine needs only the kit
installed.

Hardening (each case is tested with generated submissions, see ``instructor.submissions``)
-----------------------------------------------------------------------------------------
- every cell runs under ``--timeout`` seconds (default 60: a whole notebook runs in under
  60 s in grading mode); a cell past it is interrupted, fails, and grading goes on;
  a notebook whose grading exceeds its overall limit (``notebook_limit``) is killed;
- test cells a student edited or deleted are restored from the gradebook (nbgrader's
  ``OverwriteCells``, with ``add_missing_cells`` on);
- stream output is cut to 20 000 characters per output, 50 outputs per cell
  (``guard.LimitOutputSize``), so feedback pages stay small;
- a kernel that dies (``os._exit``) or a notebook nbgrader cannot grade scores 0 on
  every test of that notebook, and its feedback page says what happened;
- the kernel's working folder holds only that student's notebook: the gradebook (which
  contains the hidden tests) lives outside the course folder, and the restored notebook
  nbgrader writes next to the kernel is deleted before it runs
  (``guard.HideRestoredNotebook``). Code can still read any file the grading
  user can: grade exams where ``solutions/`` is not on disk (a Dask worker, a container).
"""
from __future__ import annotations

from instructor.grading.gradebook import export_csv, merge, prepare_course
from instructor.grading.jobs import DEFAULT_TIMEOUT, StudentJob, StudentResult, TopicResult, grade_student
from instructor.grading.report import Report, exercise_of, summary, write_exercise_csv
from instructor.grading.run import DEFAULT_OUT, grade, main, tampering_flags, threads_per_worker

__all__ = [
    "DEFAULT_OUT", "DEFAULT_TIMEOUT", "Report", "StudentJob", "StudentResult", "TopicResult", "exercise_of",
    "export_csv", "grade", "grade_student", "main", "merge", "prepare_course", "summary", "tampering_flags",
    "threads_per_worker", "write_exercise_csv",
]
