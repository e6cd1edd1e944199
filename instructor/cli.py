"""Command line of the course operations: ``python -m instructor COMMAND …``.

Repository-only (it reads ``solutions/``); students have ``python -m helpers``. Each
command lives in the module that does the work; this file only dispatches, importing
lazily so ``--help`` stays fast.
"""
from __future__ import annotations

import sys

from helpers.cli import dispatch

COMMANDS = {
    "release": ("instructor.release",
                "regenerate the student notebooks/ from solutions/ (--check: verify; --bundle: also zip)"),
    "bundle": ("instructor.bundle", "write the student zip dist/<name>-student.zip from the committed notebooks/"),
    "grade": ("instructor.grading", "autograde submissions in parallel: grades CSV, feedback, summary table"),
    "demo": ("instructor.demo", "run the solution notebooks headless and write build/demo/index.html"),
    "colab": ("instructor.colab", "rewrite the Colab set-up cell of solutions/ and the README's Colab links"),
    "leakcheck": ("instructor.leakcheck", "fail when a given cell of a student notebook computes a graded function"),
    "selfcheck": ("instructor.selfcheck", "grade every generated submission of every topic and check the marks"),
    "check-weights": ("instructor.check_weights", "with ImageNet weights: check trained behaviour, write a report"),
    "submissions": ("instructor.submissions", "write generated test submissions (perfect, hostile, one per mistake)"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a command's ``main``; returns the exit status."""
    return dispatch("instructor", COMMANDS, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
