"""The reference answers of a solution notebook, as Python functions.

The graded functions live only in ``solutions/NN_topic/*.ipynb`` (never in ``helpers``).
Instructor tools that need them (the fast style-transfer trainer) and the semantic tests
run the notebook's solution cells, and the import lines of its other cells, in a fresh
namespace — nothing else of the notebook runs.
"""
from __future__ import annotations

import json
from pathlib import Path

from instructor.course import repo_root

SOLUTIONS = repo_root() / "solutions"


def solution_namespace(topic: str, solutions: Path = SOLUTIONS) -> dict:
    """``{name: object}`` after executing ``topic``'s solution cells (e.g. ``"08_fast_style_transfer"``)."""
    folder = solutions / topic
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no solution notebook in {folder}; instructor tools need the solutions/ folder "
                                "of the course repository (it is not part of the student bundle)")
    path = found[0]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {"__name__": f"solution_{topic}"}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            exec(compile(source, f"{path.name}:{cell.get('id', '?')}", "exec"), namespace)
        else:
            imports = [line for line in source.splitlines()
                       if line.startswith(("import ", "from ")) and not line.startswith("from __future__")]
            if imports:
                exec("\n".join(imports), namespace)
    return namespace
