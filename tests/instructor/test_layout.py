"""The split between what students get (`helpers`) and the course operations (`instructor`)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from instructor.course import repo_root

HELPERS = sorted(p for p in (repo_root() / "helpers").rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    """The `helpers` module a file belongs to: its stem, or its package's name (``optim``)."""
    parts = path.relative_to(repo_root() / "helpers").parts
    return parts[0] if len(parts) > 1 else path.stem


def test_repo_root_is_the_checkout_with_both_packages():
    root = repo_root()
    assert (root / "helpers" / "__init__.py").is_file() and (root / "instructor" / "course.py").is_file()
    assert root == Path(__file__).resolve().parents[2]   # tests/instructor/this file


INSTRUCTOR = sorted(p for p in (repo_root() / "instructor").rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.relative_to(repo_root() / "instructor").as_posix())
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


def _helpers_imports(path: Path, names: set[str]) -> set[str]:
    """The `helpers` modules that ``path`` imports, at module level or inside functions."""
    found, own = set(), _module(path)
    depth = len(path.relative_to(repo_root() / "helpers").parts)  # 2 inside a subpackage
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("helpers.")}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level and node.level < depth:
                continue  # relative, within the same subpackage
            if node.level == depth or module == "helpers":
                found |= {module.split(".")[0]} if module and module != "helpers" else {a.name for a in node.names}
            elif module.startswith("helpers."):
                found.add(module.split(".")[1])
    return (found & names) - {own}


def test_helpers_modules_import_each_other_one_way_only():
    """No import cycle between `helpers` modules, lazy imports inside functions included
    (``images`` uses ``samples``, so ``samples`` must not reach back for ``images``)."""
    names = {_module(p) for p in HELPERS}
    graph = {name: set() for name in names}
    for p in HELPERS:
        graph[_module(p)] |= _helpers_imports(p, names)
    assert "samples" in graph["images"] and "images" not in graph["samples"]

    def path_back(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    return trail + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + [nxt]))
        return None

    cycles = [" → ".join(c) for c in map(path_back, sorted(graph)) if c]
    assert not cycles, f"import cycles in helpers: {cycles}"


def test_package_docstring_lists_every_module_once():
    """helpers/__init__.py's docstring has one ``  name  description`` line per module, no more."""
    import helpers

    listed = re.findall(r"^  (\w+) {2,}\S", helpers.__doc__, flags=re.M)
    modules = sorted({_module(p) for p in HELPERS} - {"__init__"})
    assert sorted(listed) == modules, (f"missing: {sorted(set(modules) - set(listed))}, "
                                       f"not modules: {sorted(set(listed) - set(modules))}")


@pytest.mark.parametrize("package", ["helpers/optim", "instructor/grading"])
def test_subpackage_modules_import_no_private_name_from_each_other(package):
    """The modules of a subpackage share only public names: no ``from .x import _name``."""
    folder = repo_root() / package
    dotted = package.replace("/", ".")
    offenders = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(dotted)):
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not offenders, f"private names imported across {dotted}: {offenders}"


@pytest.mark.parametrize("package", ["helpers", "instructor"])
def test_docstrings_use_one_style_google_args_sections(package):
    """One docstring style: Google sections (``Args:``, ``Returns:``, ``Raises:``), never NumPy's
    underlined sections or reST ``:param:`` fields."""
    other = re.compile(r"^\s*(Parameters|Returns|Raises|Attributes)\n\s*-{3,}\s*$|^\s*:param \w+:", re.M)
    offenders = []
    for path in sorted((repo_root() / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False) or ""
                if other.search(doc):
                    offenders.append(f"{path.name}:{getattr(node, 'name', '<module>')}")
    assert not offenders, f"NumPy/reST-style docstring sections (use Google `Args:`): {offenders}"
