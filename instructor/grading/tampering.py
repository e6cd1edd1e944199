"""Flags for the grading report: student code that reaches into what the tests use.

The test cells keep their power on their own (they import their checks afresh, see
``helpers.checking``), so a flag costs the student nothing; it points the instructor at
code worth a look. A student's code cell is flagged when it

- assigns to, or deletes, an attribute or item of an imported module (``helpers.checking.check_close = …``,
  ``torch.allclose = …``, ``sys.modules[…] = …``), or calls ``setattr``/``delattr`` on one;
- binds a name that the tests use (``check_close = lambda *a, **k: None``, ``abs = …``,
  ``import numpy as torch``), other than the names its own stub asks for;
- writes through ``globals()``/``vars()``/``__builtins__``, or runs code from a string
  (``exec``/``eval``/``compile``), which cannot be read statically.

Only cells whose source differs from every cell of the release are read: given code,
unchanged, is the course's own.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from instructor.submissions import notebook_path

HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
ALWAYS_MODULES = {"sys", "builtins", "__builtins__", "importlib"}
STRING_CODE = {"exec", "eval", "compile", "__import__"}


def _parse(source: str) -> ast.Module | None:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _code(nb: dict) -> list[dict]:
    return [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def _imports(tree: ast.AST) -> dict[str, str]:
    """``{bound name: module}`` of the import statements in ``tree``."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    out[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


def _bound(tree: ast.AST) -> set[str]:
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    names |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names | set(_imports(tree))


def test_names(solution_nb: dict) -> set[str]:
    """Names the test cells use: those they read without binding, plus the modules they import."""
    names: set[str] = set()
    for cell in _code(solution_nb):
        meta = _meta(cell)
        if not meta.get("grade") or meta.get("solution"):
            continue
        source = "".join(cell["source"])
        for marker in HIDDEN:
            source = source.replace(marker, "")
        tree = _parse(source)
        if tree is None:
            continue
        loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        local |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
                  for a in n.posonlyargs + n.args + n.kwonlyargs}
        local |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        imported = _imports(tree)
        names |= (loads - local - set(imported)) | set(imported)
    return names | {"check", "check_close", "check_tensor", "check_unchanged", "checking"}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"globals", "vars"}:
        return node.func.id + "()"
    return None


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        out = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        out = [node.target]
    elif isinstance(node, ast.Delete):
        out = list(node.targets)
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        out = [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        out = [item.optional_vars for item in node.items if item.optional_vars is not None]
    elif isinstance(node, ast.NamedExpr):
        out = [node.target]
    else:
        return []
    flat = []
    while out:
        t = out.pop()
        if isinstance(t, (ast.Tuple, ast.List)):
            out += t.elts
        elif isinstance(t, ast.Starred):
            out.append(t.value)
        else:
            flat.append(t)
    return flat


def _kernel_level(tree: ast.Module):
    """Statements that run at the cell's top level (not inside a function or class body)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack += [child for child in ast.iter_child_nodes(node) if isinstance(child, (ast.stmt, ast.expr))]


def cell_flags(source: str, modules: dict[str, str], tests_use: set[str], allowed: set[str],
               known_imports: dict[str, str]) -> list[str]:
    """What is suspicious in one student cell (empty when nothing is)."""
    tree = _parse(source)
    if tree is None:
        return []
    found: list[str] = []
    module_names = set(modules) | ALWAYS_MODULES
    for node in ast.walk(tree):                     # anywhere, function bodies included
        for target in _targets(node):
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                root = _root(target)
                if root in module_names or (root or "").endswith("()"):
                    found.append(f"line {target.lineno}: changes `{ast.unparse(target)}`, part of a module")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in {"setattr", "delattr"} and node.args and _root(node.args[0]) in module_names:
                found.append(f"line {node.lineno}: `{node.func.id}` on the module `{ast.unparse(node.args[0])}`")
            elif node.func.id in STRING_CODE:
                found.append(f"line {node.lineno}: runs code with `{node.func.id}` (not checked)")
        if isinstance(node, ast.Global):
            hits = [n for n in node.names if n in tests_use and n not in allowed]
            if hits:
                found.append(f"line {node.lineno}: `global {', '.join(hits)}`, which the tests use")
    for node in _kernel_level(tree):                # names bound in the kernel itself
        for target in _targets(node):
            if isinstance(target, ast.Name) and target.id in tests_use and target.id not in allowed:
                found.append(f"line {target.lineno}: rebinds `{target.id}`, which the tests use")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name in tests_use and node.name not in allowed:
            found.append(f"line {node.lineno}: defines `{node.name}`, which the tests use")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, module in _imports(node).items():
                if name in tests_use and name not in allowed and known_imports.get(name, name) != module:
                    found.append(f"line {node.lineno}: binds `{name}` (which the tests use) to `{module}`")
    return sorted(dict.fromkeys(found), key=lambda f: int(f.split()[1].rstrip(":")))


@dataclass(frozen=True)
class Reference:
    """What a topic's release and solution say, read once per topic: the given cells' sources,
    the names the tests use, the names each stub binds, and the release's imports."""

    given: frozenset[str]
    tests_use: frozenset[str]
    stubs: dict[str, set[str]]
    known_imports: dict[str, str]


def reference(release: dict, solution: dict) -> Reference:
    """The :class:`Reference` of one topic from its release and solution notebooks."""
    stubs: dict[str, set[str]] = {}
    known_imports: dict[str, str] = {}
    for cell in _code(release):
        tree = _parse("".join(cell["source"]))
        if tree is None:
            continue
        known_imports.update(_imports(tree))
        if _meta(cell).get("solution"):
            stubs[_meta(cell)["grade_id"]] = _bound(tree)
    return Reference(frozenset("".join(c["source"]).strip() for c in _code(release)),
                     frozenset(test_names(solution)), stubs, known_imports)


def flags(submission: dict, release: dict, solution: dict, ref: Reference | None = None) -> list[str]:
    """Flags of one submitted notebook, each ``"cell <grade_id or n>, line k: what"``."""
    ref = ref or reference(release, solution)
    cells = [(cell, "".join(cell["source"])) for cell in _code(submission)]
    modules = dict(ref.known_imports)
    for _, source in cells:
        tree = _parse(source)
        if tree is not None:
            modules.update(_imports(tree))
    # classes imported by name are not modules
    modules = {name: module for name, module in modules.items()
               if not any(part[:1].isupper() for part in module.split("."))}
    out = []
    for index, (cell, source) in enumerate(cells):
        meta = _meta(cell)
        if source.strip() in ref.given or (meta.get("grade") and not meta.get("solution")):
            continue
        allowed = ref.stubs.get(meta.get("grade_id"), set())
        label = meta.get("grade_id") or f"code cell {index + 1}"
        found = cell_flags(source, modules, set(ref.tests_use), allowed, ref.known_imports)
        out += [f"cell {label}, {flag}" for flag in found]
    return out


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def reference_for(release: Path, solutions: Path, topic: str) -> tuple[dict, dict, Reference]:
    """``(release notebook, solution notebook, Reference)`` of ``topic``; read it once per topic and grading run."""
    rel, sol = _load(notebook_path(Path(release) / topic)), _load(notebook_path(Path(solutions) / topic))
    return rel, sol, reference(rel, sol)


def flags_for(submitted: Path, topic_reference: tuple[dict, dict, Reference]) -> list[str]:
    """Flags of the notebook file ``submitted``, given its topic's :func:`reference_for`."""
    try:
        submission = _load(submitted)
    except (OSError, ValueError):
        return []           # an unreadable notebook is reported by the grading itself
    return flags(submission, *topic_reference)
