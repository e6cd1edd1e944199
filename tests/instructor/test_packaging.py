"""The project's own files: pyproject, conda environment, Makefile, nbgrader config, CI script."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from instructor.course import repo_root

ROOT = repo_root()
RUNTIME = {"torch", "torchvision", "matplotlib", "ipywidgets", "tqdm", "pillow", "numpy", "scikit-image"}
GRADING = {"nbgrader", "nbclient", "nbconvert", "ipykernel"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_pyproject_declares_the_kit(project):
    assert project["requires-python"] == ">=3.11"
    assert {_name(r) for r in project["dependencies"]} == RUNTIME
    extras = project["optional-dependencies"]
    assert {_name(r) for r in extras["grading"]} == GRADING
    assert {_name(r) for r in extras["dev"]} == {"pytest", "pytest-xdist", "ruff", project["name"]}
    assert f"{project['name']}[grading]" in extras["dev"]
    assert {_name(r) for r in extras["lab"]} == {"jupyterlab", "notebook"}
    assert f"{project['name']}[browser]" in extras["dev"] and f"{project['name']}[lab]" in extras["browser"]
    assert {_name(r) for r in extras["browser"]} == {"playwright", project["name"]}


def test_requirements_have_lower_bounds_only(project):
    every = project["dependencies"] + [r for rs in project["optional-dependencies"].values() for r in rs]
    for requirement in every:
        if _name(requirement) == project["name"]:
            continue
        assert ">=" in requirement and "==" not in requirement and "<" not in requirement, requirement


def test_the_course_install_has_helpers_and_instructor():
    """The repository's own install carries `instructor` (make grade's nbgrader workers import it);
    the student bundle has a pyproject of its own with `helpers` only (tests/instructor/test_bundle.py)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"] == ["helpers", "helpers.optim", "helpers._data", "instructor",
                                      "instructor.grading"]
    assert setuptools["package-dir"] == {"helpers._data": "data"}


def test_conda_environment_matches_pyproject(project):
    yaml = pytest.importorskip("yaml")
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda and pip == ["-e .[dev]"]
    conda_bounds = {_name(d).replace("pytorch", "torch"): d.split(">=")[1] for d in conda if ">=" in d}
    wanted = project["dependencies"] + project["optional-dependencies"]["grading"] + [
        r for r in project["optional-dependencies"]["dev"] if _name(r) != project["name"]]
    assert conda_bounds == {_name(r): r.split(">=")[1] for r in wanted}


def test_makefile_has_the_targets():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("setup", "demo", "test", "lab", "release", "grade", "bench"):
        assert re.search(rf"^{target}:", text, re.M), target
    assert "PYTHON ?= python3" in text and "VENV ?= .venv" in text
    assert "$(VENV)/.installed" in text


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_passes_the_variables_through(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed").touch()  # newer than pyproject.toml: no re-install

    def dry_run(*args: str) -> str:
        done = subprocess.run(["make", "-n", f"VENV={venv}", *args], cwd=ROOT, capture_output=True,
                              text=True, check=True)
        return done.stdout

    assert f"{venv}/bin/python -m instructor demo --topic 07" in dry_run("demo", "TOPIC=07")
    assert "--require-weights" in dry_run("demo", "REQUIRE_WEIGHTS=1")
    assert "--require-weights" not in dry_run("demo")
    assert "pip install" not in dry_run("demo")
    assert f"{venv}/bin/python -m ruff check helpers instructor tests bench" in dry_run("test")
    assert f"{venv}/bin/python -m pytest -q -n 2 --dist loadfile -k demo" in dry_run("test", "PYTEST_ARGS=-k demo")
    assert f"{venv}/bin/python -m pytest -q -n 0 --dist loadfile" in dry_run("test", "TEST_WORKERS=0")
    os.utime(venv / ".installed", (0, 0))  # older than pyproject.toml: install again
    assert "pip install -e '.[dev]'" in dry_run("test")


def test_nbgrader_config_sets_the_directories():
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    course = CourseDirectory(config=config)
    assert Path(course.root) == ROOT
    assert (course.source_directory, course.release_directory) == ("solutions", "notebooks")
    assert Execute(config=config).timeout == 120


def test_ci_script_runs_the_readme_test_command():
    script = ROOT / ".ci" / "run"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert os.access(script, os.X_OK)
    assert re.search(r"^make setup VENV=", text, re.M) and re.search(r"^make test VENV=", text, re.M)
    assert "mktemp -d" in text, "CI must build a fresh virtual environment"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme and "make demo" in readme


@pytest.mark.skipif(not (ROOT / "data").is_dir(), reason="no data/ folder yet")
def test_wheel_carries_the_packages_and_the_bundled_data(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src)
    for folder in ("helpers", "instructor", "data"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data_files = [p.relative_to(ROOT / "data").as_posix() for p in (ROOT / "data").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]
    assert "helpers/images.py" in names and "instructor/grading/run.py" in names
    assert all(f"helpers/_data/{f}" in names for f in data_files)
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"helpers", "instructor"}
