"""Running nbgrader on a throw-away course directory.

nbgrader works on a course folder (``source/``, ``release/``, ``submitted/`` …) and a
sqlite gradebook. The kit keeps its sources in ``solutions/`` and its student versions in
``notebooks/``; the functions here lay out a temporary course around them, call nbgrader's
own command line (the same code instructors run) and read results back, so the
repository never collects a gradebook or a student's work.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from instructor.course import repo_root

REPO = repo_root()
SOLUTIONS = REPO / "solutions"
RELEASE = REPO / "notebooks"


def topics(solutions: Path = SOLUTIONS) -> list[str]:
    """Topic folders (``01_cnn_recap`` …) that hold a source notebook, in order."""
    if not solutions.is_dir():
        return []
    return sorted(d.name for d in solutions.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))


def resolve_topics(selection: list[str] | None, solutions: Path = SOLUTIONS) -> list[str]:
    """``["07", "01_cnn_recap"]`` → full topic names; an unknown one raises ``ValueError``."""
    available = topics(solutions)
    if not selection:
        return available
    out = []
    for item in selection:
        hits = [t for t in available if t == item or t.split("_", 1)[0] == item.zfill(2)]
        if not hits:
            raise ValueError(f"no topic {item!r} under {solutions}; available: {', '.join(available) or 'none'}")
        out += [h for h in hits if h not in out]
    return out


@dataclass
class Course:
    """A temporary nbgrader course rooted at ``root``."""

    root: Path
    timeout: int = 120
    #: where the gradebook lives; default ``root/gradebook.db`` (grading keeps it outside
    #: the course folder the student's kernel runs in)
    db_path: Path | None = None
    #: CPU threads for torch in the kernels nbgrader starts (``OMP_NUM_THREADS``); None: torch's default
    threads: int | None = None

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path or self.root / 'gradebook.db'}"

    def nbgrader(self, *args: str, check: bool = True,
                 wall_timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` for this course; raise with nbgrader's log on failure.

        ``wall_timeout`` (seconds) bounds the whole command: past it nbgrader and the
        kernels it started are killed and the result has return code -9.
        """
        cmd = [sys.executable, "-m", "nbgrader", *args,
               f"--CourseDirectory.root={self.root}",
               f"--CourseDirectory.db_url={self.db_url}",
               f"--ExecutePreprocessor.timeout={self.timeout}"]
        env = dict(os.environ)
        # nbgrader starts helper programs (alembic) by name: find this interpreter's.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env.setdefault("MPLBACKEND", "Agg")
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        proc = _run_bounded(cmd, self.root, env, wall_timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
        return proc

    def add_source(self, topic: str, solutions: Path = SOLUTIONS) -> Path:
        target = self.root / "source" / topic
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(solutions / topic, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        return target

    def generate(self, topic: str) -> Path:
        """``nbgrader generate_assignment``: returns the release folder of ``topic``."""
        self.nbgrader("generate_assignment", topic, "--force")
        return self.root / "release" / topic

    def submit(self, topic: str, student: str, notebooks: dict[str, Path | str]) -> Path:
        """Place a student's notebooks (name → file or JSON text) as nbgrader's ``submitted/`` layout."""
        folder = self.root / "submitted" / student / topic
        folder.mkdir(parents=True, exist_ok=True)
        for name, nb in notebooks.items():
            dest = folder / name
            if isinstance(nb, Path):
                shutil.copyfile(nb, dest)
            else:
                dest.write_text(nb, encoding="utf-8")
        return folder

    def autograde(self, topic: str, student: str) -> None:
        self.nbgrader("autograde", topic, f"--student={student}", "--force", "--create")

    def scores(self, topic: str, student: str) -> dict[str, tuple[float, float]]:
        """``{grade_id: (score, max_score)}`` of one autograded submission."""
        from nbgrader.api import Gradebook

        out = {}
        with Gradebook(self.db_url) as gb:
            submission = gb.find_submission(topic, student)
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if grade.cell.cell_type != "markdown":   # written answers wait for the formgrader
                        out[grade.name] = (float(grade.score), float(grade.max_score))
        return out

    def autograded_notebook(self, topic: str, student: str, name: str) -> Path:
        return self.root / "autograded" / student / topic / name


def _run_bounded(cmd: list[str], cwd: Path, env: dict, wall_timeout: float | None) -> subprocess.CompletedProcess:
    """``subprocess.run`` that, on timeout, kills the command's whole process group."""
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as popen:
        try:
            out, err = popen.communicate(timeout=wall_timeout)
        except subprocess.TimeoutExpired:
            _kill_group(popen.pid)
            out, err = popen.communicate()
            err += f"\nkilled after {wall_timeout:.0f} s (the whole command's time limit)"
            return subprocess.CompletedProcess(cmd, -9, out, err)
        except BaseException:  # Ctrl-C: do not leave nbgrader and its kernels running
            _kill_group(popen.pid)
            raise
    return subprocess.CompletedProcess(cmd, popen.returncode, out, err)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
