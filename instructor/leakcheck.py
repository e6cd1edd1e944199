"""Release-time check: no given cell of a student notebook computes a graded function.

A line-based scan misses an answer that ships under another name (a ``gram()`` helper in
a given cell that is 06's graded ``gram_matrix``). This check is behavioural:

1. **Probes.** Every test cell of every solution notebook (hidden tests included) runs
   against the solution's answers, each cell in its own copy of the answers' namespace
   (test cells are self-contained: they import what they use). Each call of a graded
   function is recorded, up to ``PROBES_PER_FUNCTION`` informative ones: its arguments
   and what it returned. A call is *informative* when its result is not empty, not all
   zeros and not one of its own arguments (``fgsm`` with ``eps = 0`` returns its input,
   which any identity function would match).
2. **Candidates.** Every function and ``nn.Module`` class defined at the top level of a
   non-solution cell of a *released* notebook (given cells and visible test cells), run
   in a namespace with that notebook's imports.
3. **Verdict.** A candidate leaks a graded function (of any topic: 07 could ship 06's
   answer) when it returns the recorded result on every informative probe it accepts,
   and on at least two of them (one, if the function has only one).

Candidates run under a time limit per call, with plotting off and their printing muted.

    python -m instructor leakcheck [TOPIC …]     exit 1 when a given cell computes a graded function
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import io
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from instructor.answers import solution_namespace
from instructor.coursedir import RELEASE, SOLUTIONS, resolve_topics
from instructor.coursedir import topics as all_topics
from instructor.submissions import graded_functions, notebook_path

PROBES_PER_FUNCTION = 4
CALL_SECONDS = 10
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


@dataclass
class Probe:
    """One recorded call of a graded function: ``function(*args, **kwargs) == result``."""

    args: tuple
    kwargs: dict
    result: object


@dataclass
class Leak:
    """``candidate`` (defined in ``notebook``) computes ``topic``'s graded ``function``."""

    notebook: str
    candidate: str
    topic: str
    function: str
    matched: int

    def __str__(self) -> str:
        return (f"{self.notebook}: the given `{self.candidate}` computes the graded `{self.function}` of "
                f"{self.topic} ({self.matched} recorded calls matched); move it into a solution cell "
                "or change it so that it no longer gives the answer away")


@dataclass
class Findings:
    leaks: list[Leak] = field(default_factory=list)
    candidates: int = 0
    probes: dict[str, int] = field(default_factory=dict)     # "topic/function" → informative probes


# --------------------------------------------------------------------------- values


def _tensors(value):
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


def _snapshot(value):
    """A detached copy of a result (tensors, numbers, tuples, lists, dicts); None when not comparable."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        parts = [_snapshot(v) for v in value]
        return None if any(p is None for p in parts) else type(value)(parts)
    if isinstance(value, dict):
        parts = {k: _snapshot(v) for k, v in value.items()}
        return None if any(p is None for p in parts.values()) else parts
    return None


def same(a, b) -> bool:
    """``a`` and ``b`` hold the same values (tensors to rtol 1e-4, atol 1e-6)."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return False
        a64, b64 = a.detach().cpu().double(), b.detach().cpu().double()
        return bool(torch.allclose(a64, b64, rtol=1e-4, atol=1e-6, equal_nan=True))
    if (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        return abs(a - b) <= 1e-6 + 1e-4 * abs(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return False


def informative(result, args: tuple, kwargs: dict) -> bool:
    """A result that a function other than the graded one is unlikely to return by chance."""

    if result is None:
        return False
    flat = list(_tensors(result))
    numbers = [result] if isinstance(result, (int, float)) else []
    if isinstance(result, dict):
        numbers += [v for v in result.values() if isinstance(v, (int, float))]
    if flat and all(t.numel() == 0 or not bool(t.detach().ne(0).any()) for t in flat):
        return False
    if not flat and numbers and all(n == 0 for n in numbers):
        return False
    inputs = list(_tensors((args, kwargs)))
    return not any(same(result, t) for t in inputs)


# --------------------------------------------------------------------------- probes


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def record_probes(topic: str, solutions: Path = SOLUTIONS, limit: int = PROBES_PER_FUNCTION) -> dict[str, list[Probe]]:
    """``{graded function: [Probe]}`` from running ``topic``'s test cells on the solution's answers."""
    import torch

    names = [name for name in graded_functions(topic, solutions)]
    answers = solution_namespace(topic, solutions)
    probes: dict[str, list[Probe]] = {name: [] for name in names if callable(answers.get(name))}

    def recorder(name, function):
        def wrapper(*args, **kwargs):
            stored = probes[name]
            before = copy.deepcopy((args, kwargs)) if len(stored) < limit else None
            result = function(*args, **kwargs)
            if before is not None:
                snap = _snapshot(result)
                if snap is not None and informative(snap, *before):
                    stored.append(Probe(before[0], before[1], snap))
            return result
        wrapper.__name__ = name
        return wrapper

    recorded = dict(answers)
    for name in probes:
        recorded[name] = recorder(name, answers[name])
    path = notebook_path(solutions / topic)
    for cell in _cells(path):
        meta = _meta(cell)
        if cell["cell_type"] != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        source = "".join(cell["source"])
        for marker in HIDDEN:
            source = source.replace(marker, "")
        torch.manual_seed(0)
        namespace = dict(recorded)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, f"{path.name}:{meta['grade_id']}", "exec"), namespace)
        except Exception as exc:
            raise RuntimeError(f"{path}: test cell {meta['grade_id']} fails on the solution's answers when run on "
                               f"its own ({type(exc).__name__}: {exc}); test cells must import what they use") from exc
    return probes


# --------------------------------------------------------------------------- candidates


def _top_level_definitions(source: str) -> list[ast.stmt]:
    """Import, def, class and constant-assignment statements at a cell's top level."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return []
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.Lambda)):
            keep.append(node)
    return keep


def candidates(path: Path) -> dict[str, object]:
    """``{name: callable}`` defined by the non-solution cells of a released notebook."""
    import torch

    namespace: dict = {"__name__": f"given_{path.stem}"}
    defined: list[str] = []
    for cell in _cells(path):
        if cell["cell_type"] != "code" or _meta(cell).get("solution"):
            continue
        for node in _top_level_definitions("".join(cell["source"])):
            try:
                exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
            except Exception:
                continue        # an import the release does not need here, a decorator that needs the notebook's state
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.append(node.name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                defined += [t.id for t in node.targets if isinstance(t, ast.Name)]
    out = {}
    for name in dict.fromkeys(defined):
        value = namespace.get(name)
        if isinstance(value, type):
            if issubclass(value, torch.nn.Module):
                out[name] = value
        elif callable(value):
            out[name] = value
    return out


class _TimeLimit(Exception):
    pass


@contextlib.contextmanager
def _limited(seconds: int):
    """Raise ``_TimeLimit`` in the main thread after ``seconds`` (no limit where SIGALRM is missing)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(*_):
        raise _TimeLimit()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _call(candidate, probe: Probe):
    """The candidate's result on the probe's arguments, or None when it raises or runs too long."""
    import matplotlib.pyplot as plt
    import torch

    args, kwargs = copy.deepcopy((probe.args, probe.kwargs))
    torch.manual_seed(0)
    try:
        with _limited(CALL_SECONDS), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            if isinstance(candidate, type):
                module = candidate()
                result = module(*args, **kwargs)
            else:
                result = candidate(*args, **kwargs)
        return _snapshot(result)
    except (Exception, _TimeLimit):
        return None
    finally:
        plt.close("all")


def leaks_of(candidate, probes: list[Probe]) -> int:
    """How many probes the candidate matches, or 0 when it contradicts one or matches too few."""
    matched = 0
    for probe in probes:
        result = _call(candidate, probe)
        if result is None:
            continue
        if not same(result, probe.result):
            return 0
        matched += 1
    return matched if matched >= min(2, len(probes)) else 0


# --------------------------------------------------------------------------- the check


def check(selected: list[str] | None = None, solutions: Path = SOLUTIONS, release: Path = RELEASE,
          log=print) -> Findings:
    """Leaks in the released notebooks of ``selected`` topics (default all), against every topic's answers."""
    import matplotlib

    matplotlib.use("Agg")
    findings = Findings()
    graded: dict[tuple[str, str], list[Probe]] = {}
    for topic in all_topics(solutions):
        for function, probes in record_probes(topic, solutions).items():
            findings.probes[f"{topic}/{function}"] = len(probes)
            if probes:
                graded[(topic, function)] = probes
    for topic in resolve_topics(selected, solutions):
        path = notebook_path(release / topic)
        found = candidates(path)
        findings.candidates += len(found)
        for name, candidate in found.items():
            for (owner, function), probes in graded.items():
                matched = leaks_of(candidate, probes)
                if matched:
                    findings.leaks.append(Leak(f"{topic}/{path.name}", name, owner, function, matched))
        log(f"{topic}: {len(found)} given functions checked against {len(graded)} graded ones")
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor leakcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("topics", nargs="*", help="released notebooks to check (default: all)")
    args = parser.parse_args(argv)
    try:
        findings = check(args.topics)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    empty = [name for name, n in findings.probes.items() if n == 0]
    if empty:
        print(f"note: no informative recorded call of {', '.join(empty)} (not checked)")
    for leak in findings.leaks:
        print(f"LEAK {leak}", file=sys.stderr)
    print(f"{findings.candidates} given functions, {len(findings.probes) - len(empty)} graded functions: "
          f"{len(findings.leaks)} leaks")
    return 1 if findings.leaks else 0


if __name__ == "__main__":
    raise SystemExit(main())
