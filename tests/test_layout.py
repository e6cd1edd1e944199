"""The split between what students get (`helpers`) and the course operations (`instructor`)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from instructor.course import repo_root

HELPERS = sorted((repo_root() / "helpers").glob("*.py"))


def test_repo_root_is_the_checkout_with_both_packages():
    root = repo_root()
    assert (root / "helpers" / "__init__.py").is_file() and (root / "instructor" / "course.py").is_file()
    assert root == Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((repo_root() / "instructor").glob("*.py")), ids=lambda p: p.name)
def test_instructor_modules_take_the_root_from_one_function(path):
    """Only instructor/course.py says where the repository is (a script's sys.path bootstrap aside)."""
    if path.name == "course.py":
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.search(r"Path\(__file__\)\.resolve\(\)\.(parent\.parent|parents\[1\])", line):
            assert "sys.path.insert" in line, f"{path.name}: use instructor.course.repo_root(): {line.strip()}"


@pytest.mark.parametrize("path", HELPERS, ids=lambda p: p.name)
def test_helpers_never_imports_instructor(path):
    """Students get `helpers` without `instructor`: no import of it, at any depth of the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level]
    assert not [name for name in imported if name.split(".")[0] == "instructor"], path.name
    dynamic = [c.value for c in ast.walk(tree) if isinstance(c, ast.Constant) and isinstance(c.value, str)
               and re.fullmatch(r"instructor(\.\w+)*", c.value)]
    assert not dynamic, f"{path.name} names a module of `instructor` (a dynamic import): {dynamic}"
