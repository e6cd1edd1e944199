"""Load the reference answers of a solution notebook into a namespace, for semantic tests.

The graded functions live only in ``solutions/NN_topic/*.ipynb`` (never in ``helpers``).
Tests that check what those functions *do* on the offline classifier run the notebook's
imports and solution cells — nothing else — in a fresh namespace.
"""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def solution_namespace(topic: str) -> dict:
    """Execute the solution cells (and import lines of the setup cells) of one topic's notebook."""
    path = next((REPO / "solutions" / topic).glob("*.ipynb"))
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
