"""The student bundle (``python -m instructor release --bundle``): complete, answer-free, installable."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from instructor import bundle
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
    for name in bundle.INCLUDED:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    _, _, lines = next(_answer_bodies())
    (root / "helpers" / "cheat.py").write_text(f"# {lines[0]}\n")
    with pytest.raises(ValueError, match=r"helpers/cheat.py contains the answer line"):
        bundle.build(tmp_path / "dist", root=root)
    assert not (tmp_path / "dist" / f"{NAME}.zip").exists()


def test_bundle_installs_and_a_student_notebook_runs_to_its_first_stub(built, tmp_path):
    """A fresh venv reusing this environment's packages (a .pth line, no download), the
    bundle pip-installed into it, notebook 01 executed from the unpacked bundle."""
    zipfile.ZipFile(built).extractall(tmp_path)
    kit = tmp_path / NAME
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "reuse-dev-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBGRADER_EXECUTION")}
    env.update(KIT_PROFILE="smoke", KIT_ALLOW_RANDOM_WEIGHTS="1", MPLBACKEND="Agg",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(kit)],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    where = subprocess.run([python, "-c", "import helpers; print(helpers.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(site), f"helpers imported from {where}, not from the bundle's install"
    notebook = next((kit / "notebooks").glob("01_*/*.ipynb"))
    script = textwrap.dedent(f"""
        import nbformat, sys
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
        nb = nbformat.read({str(notebook)!r}, as_version=4)
        client = NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={{"metadata": {{"path": {str(notebook.parent)!r}}}}})
        try:
            client.execute()
        except CellExecutionError as exc:
            index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                         and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
            print("STOPPED", index, exc.ename, nb.cells[index].metadata.get("nbgrader", {{}}).get("grade_id"))
        else:
            print("RAN TO THE END")
    """)
    done = subprocess.run([python, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    first_stub_test = next(i for i, c in enumerate(json.loads(notebook.read_text())["cells"])
                           if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
    assert done.stdout.strip().splitlines()[-1] == \
        f"STOPPED {first_stub_test} NotImplementedError test_conv_output_size_visible", done.stdout
