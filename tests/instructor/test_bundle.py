"""The student bundle (``python -m instructor bundle``): complete, answer-free, installable without `instructor`."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from instructor import bundle, student_files
from instructor.coursedir import REPO, SOLUTIONS

NAME = f"{bundle.project_name()}-student"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return bundle.build(tmp_path_factory.mktemp("dist"))


def _answer_bodies():
    """Every solution cell's answer (between the markers), whole and line by line."""
    for nb_path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        for cell in json.loads(nb_path.read_text())["cells"]:
            source = "".join(cell["source"])
            if "### BEGIN SOLUTION" in source:
                body = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
                yield nb_path.parent.name, body.strip(), [l.strip() for l in body.splitlines() if len(l.strip()) > 20]


def test_bundle_holds_what_students_need_and_no_answers(built):
    zf = zipfile.ZipFile(built)
    names = zf.namelist()
    assert built.name == f"{NAME}.zip" and all(n.startswith(f"{NAME}/") for n in names)
    top = {n.split("/")[1] for n in names}
    assert top == {"notebooks", "helpers", "data", "environment.yml", "pyproject.toml", "README.md"}, top
    for topic in (p.name for p in (REPO / "notebooks").iterdir() if p.is_dir()):
        assert any(n.startswith(f"{NAME}/notebooks/{topic}/") and n.endswith(".ipynb") for n in names), topic
    assert not any("__pycache__" in n for n in names)
    assert not any(n.startswith(f"{NAME}/instructor/") or "/instructor/" in n for n in names)
    bodies = list(_answer_bodies())
    assert len(bodies) >= 15
    for name in names:
        text = zf.read(name).decode("utf-8", errors="ignore")
        assert "BEGIN HIDDEN TESTS" not in text, name
        for topic, body, lines in bodies:
            assert body not in text, f"{name} holds an answer of {topic}"
            for line in lines:
                assert line not in text, f"{name} holds the answer line {line!r} of {topic}"
    readme = zf.read(f"{NAME}/README.md").decode()
    assert "pip install" in readme and "YOUR CODE HERE" in readme and "solutions" not in readme


def test_a_leak_stops_the_build_and_names_the_file(tmp_path):
    root = tmp_path / "repo"
    for name in (*bundle.INCLUDED, "pyproject.toml"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    _, _, lines = next(_answer_bodies())
    (root / "helpers" / "cheat.py").write_text(f"# {lines[0]}\n")
    with pytest.raises(ValueError, match=r"helpers/cheat.py contains the answer line"):
        bundle.build(tmp_path / "dist", root=root)
    assert not (tmp_path / "dist" / f"{NAME}.zip").exists()


STUDENT_NEEDS = {"torch", "torchvision", "matplotlib", "ipywidgets", "tqdm", "jupyterlab"}
COURSE_TOOLS = {"nbgrader", "nbclient", "nbconvert", "dask", "distributed", "playwright", "pytest"}


def _names(requirements) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_student_packaging_installs_helpers_with_the_lecture_dependencies_only(built):
    zf = zipfile.ZipFile(built)
    pyproject = tomllib.loads(zf.read(f"{NAME}/pyproject.toml").decode())
    assert pyproject["tool"]["setuptools"]["packages"] == ["helpers", "helpers.optim", "helpers._data"]
    wanted = _names(pyproject["project"]["dependencies"]) | _names(pyproject["project"]["optional-dependencies"]["lab"])
    assert STUDENT_NEEDS <= wanted and not wanted & COURSE_TOOLS, wanted
    environment = zf.read(f"{NAME}/environment.yml").decode()
    conda = {line.strip()[2:] for line in environment.splitlines() if line.startswith("  - ") and ">=" in line}
    assert _names(c.replace("pytorch", "torch") for c in conda) == wanted
    assert "      - -e .\n" in environment and not any(tool in environment for tool in COURSE_TOOLS)
    # Generated, never hand-kept: the same text as the template gives.
    assert zf.read(f"{NAME}/pyproject.toml").decode() == student_files.student_pyproject()
    assert environment == student_files.student_environment()


# Runs in the bundle's venv: every cell of one notebook in order, in a kernel of this very
# interpreter, up to the first cell that raises. Prints one JSON line: where it stopped and why.
RUN_TO_FIRST_STUB = """
import json, sys
import nbformat
from ipykernel.kernelspec import get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

class ThisInterpreter(KernelSpecManager):
    def get_kernel_spec(self, kernel_name):
        return KernelSpec(**get_kernel_dict())

nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.insert(0, nbformat.v4.new_code_cell("import helpers; print(helpers.__file__, end='')"))
client = NotebookClient(nb, timeout=60, kernel_name="python3", kernel_spec_manager=ThisInterpreter(),
                        resources={"metadata": {"path": sys.argv[2]}})
stopped = {"index": None, "error": None}
try:
    client.execute()
except CellExecutionError as exc:
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    stopped = {"index": index - 1, "error": exc.ename}
stopped["helpers"] = nb.cells[0].outputs[0]["text"]
print(json.dumps(stopped))
"""


def test_bundle_installs_without_instructor_and_a_notebook_runs_to_its_first_stub(built, tmp_path):
    """A fresh venv (system site packages, plus this environment's packages through a .pth
    line: no download), the unpacked bundle pip-installed into it (editable), notebook 01
    run from the bundle in grading mode up to its first exercise stub."""
    zipfile.ZipFile(built).extractall(tmp_path)
    kit = tmp_path / NAME
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # Only the directory: the course checkout's own editable install (a .pth in it) is not processed.
    Path(site, "reuse-dev-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBGRADER_EXECUTION")}
    env.update(KIT_PROFILE="smoke", KIT_ALLOW_RANDOM_WEIGHTS="1", MPLBACKEND="Agg", PIP_NO_INDEX="1",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(kit)],
                          env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]

    def run(*args: str, cwd: Path = tmp_path, **extra) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], env={**env, **extra}, cwd=cwd, capture_output=True,
                              text=True, timeout=120)

    where = run("-c", "import helpers; print(helpers.__file__)")
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()).resolve() == (kit / "helpers" / "__init__.py").resolve(), where.stdout
    missing = run("-c", "import instructor")
    assert missing.returncode != 0 and "ModuleNotFoundError: No module named 'instructor'" in missing.stderr
    moved = run("-m", "helpers", "grade")
    assert moved.returncode == 2 and "python -m instructor grade" in moved.stderr

    notebook = next((kit / "notebooks").glob("01_*/*.ipynb"))
    done = run("-c", RUN_TO_FIRST_STUB, str(notebook), str(notebook.parent), cwd=notebook.parent,
               NBGRADER_EXECUTION="1")
    assert done.returncode == 0, done.stderr[-3000:]
    stopped = json.loads(done.stdout.strip().splitlines()[-1])
    cells = json.loads(notebook.read_text())["cells"]
    first_stub = next(i for i, c in enumerate(cells) if "YOUR CODE HERE" in "".join(c["source"]))
    first_check = next(i for i, c in enumerate(cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
    assert first_stub < first_check
    assert Path(stopped.pop("helpers")).resolve() == (kit / "helpers" / "__init__.py").resolve()
    assert stopped == {"index": first_check, "error": "NotImplementedError"}, (stopped, done.stderr[-2000:])
