"""The student bundle: one zip with everything students need and nothing they must not see.

    python -m instructor release --bundle    regenerate notebooks/, then write dist/<name>-student.zip
    python -m instructor bundle [--dist DIR] write the zip from the committed notebooks/

The zip holds one folder, ``<name>-student/``, with ``notebooks/``, ``helpers/``, ``data/``,
and three generated files: ``pyproject.toml`` and ``environment.yml`` that install
``helpers`` with the lecture's dependencies only (``instructor.student_files``; no nbgrader,
Dask or Playwright), and a ``README.md`` written for students. It never holds
``solutions/``, ``instructor/``, ``tests/``, the grading configuration or caches. Before the zip is written every file
is searched for the answer lines of every solution cell and for nbgrader's hidden-test
marker; a hit stops the build and names the file.
"""
from __future__ import annotations

import argparse
import json
import sys
import tomllib
import zipfile
from pathlib import Path

from instructor import student_files
from instructor.coursedir import REPO, SOLUTIONS, topics

#: Repository folders copied into the bundle as they are.
INCLUDED = ("notebooks", "helpers", "data")
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
# A solution line shorter than this ("return x") may well appear in innocent code.
MIN_ANSWER_LINE = 24

STUDENT_README = """# {title} — student edition

Notebooks, one per topic: {topic_list}.

## Set up (once)

Python 3.11 or newer:

```sh
python3 -m venv .venv
.venv/bin/python -m pip install -e ".[lab]"      # Windows: .venv\\Scripts\\python
.venv/bin/jupyter lab notebooks/
```

With conda: `conda env create -f environment.yml && conda activate {env}`, then
`jupyter lab notebooks/`.

## Working on a notebook

Open `notebooks/NN_topic/*.ipynb`, fill in each function marked `YOUR CODE HERE` (delete
the `raise NotImplementedError()` line), and run the check cell after it. Your code makes
the pictures of the notebook. Set `profile = "smoke"` in the `parameters` cell for a quick
run while you debug.

The notebooks use pretrained ImageNet weights, downloaded on first use. Without network,
ask for the course's weight cache, or fetch them beforehand:
`.venv/bin/python -m helpers download weights`.

## Handing in

Hand in the `.ipynb` file of each notebook, with its name unchanged. Grading runs your
notebook from the top in a fresh kernel, on a CPU, with more tests than the visible
ones: restart the kernel and run all cells before handing in. Do not edit or delete the
test cells; they are restored before grading.
"""


def project_name(root: Path = REPO) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]


def student_readme(root: Path = REPO, solutions: Path = SOLUTIONS) -> str:
    """The bundle's ``README.md``: set-up, working on a notebook, handing in."""
    env = f"{project_name(root)}-student"
    names = [t.split("_", 1)[0] + " " + t.split("_", 1)[1].replace("_", " ") for t in topics(solutions)]
    return STUDENT_README.format(title="Style vs Content: how CNNs see", topic_list=", ".join(names), env=env)


def bundle_files(root: Path = REPO) -> list[Path]:
    """The repository files that go into the bundle (relative paths), sorted."""
    out = []
    for name in INCLUDED:
        path = root / name
        if path.is_file():
            out.append(Path(name))
        elif path.is_dir():
            out += [p.relative_to(root) for p in path.rglob("*")
                    if p.is_file() and not SKIPPED_PARTS & set(p.parts) and p.suffix != ".pyc"]
        else:
            raise FileNotFoundError(f"{path} is missing; the student bundle needs it")
    return sorted(out)


def answer_lines(solutions: Path = SOLUTIONS) -> dict[str, str]:
    """``{answer line: where it comes from}`` for every solution cell under ``solutions``."""
    from nbgrader.preprocessors import ClearSolutions

    begin = ClearSolutions.class_traits()["begin_solution_delimeter"].default()
    end = ClearSolutions.class_traits()["end_solution_delimeter"].default()
    out = {}
    for nb_path in sorted(solutions.glob("*/*.ipynb")):
        for cell in json.loads(nb_path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if begin not in source:
                continue
            body = source.split(begin, 1)[1].split(end, 1)[0]
            for line in body.splitlines():
                if len(line.strip()) >= MIN_ANSWER_LINE:
                    out[line.strip()] = f"{nb_path.relative_to(solutions.parent)} ({cell.get('id', '?')})"
    return out


def leaks(files: dict[str, bytes], solutions: Path = SOLUTIONS) -> list[str]:
    """Files (name → content) that contain an answer line or the hidden-test marker."""
    from nbgrader.preprocessors import ClearHiddenTests

    marker = ClearHiddenTests.class_traits()["begin_test_delimeter"].default()
    answers = answer_lines(solutions)
    problems = []
    for name, data in files.items():
        text = data.decode("utf-8", errors="ignore")
        if marker in text:
            problems.append(f"{name} contains the hidden-test marker {marker!r}")
        for line, origin in answers.items():
            if line in text:
                problems.append(f"{name} contains the answer line {line!r} from {origin}")
    return problems


def build(out_dir: Path, root: Path = REPO, solutions: Path = SOLUTIONS) -> Path:
    """Write ``out_dir/<name>-student.zip``; raise ``ValueError`` naming any leak."""
    name = f"{project_name(root)}-student"
    files = {rel.as_posix(): (root / rel).read_bytes() for rel in bundle_files(root)}
    files["README.md"] = student_readme(root, solutions).encode("utf-8")
    files["pyproject.toml"] = student_files.student_pyproject(root).encode("utf-8")
    files["environment.yml"] = student_files.student_environment(root).encode("utf-8")
    problems = leaks(files, solutions)
    if problems:
        raise ValueError("the student bundle would give answers away, so it was not written:\n  "
                         + "\n  ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, data in sorted(files.items()):
            zf.writestr(f"{name}/{rel}", data)
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m instructor bundle``: write the student zip from the committed ``notebooks/``."""
    parser = argparse.ArgumentParser(prog="python -m instructor bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="where to write (default: dist/)")
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS, help="searched for answers that must not leak")
    args = parser.parse_args(argv)
    return build_and_report(args.dist, args.solutions)


def build_and_report(dist: Path, solutions: Path) -> int:
    """:func:`build`, printing the zip's path or the reason it was not written; returns the exit status."""
    try:
        print(f"wrote {build(dist, solutions=solutions)}")
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
