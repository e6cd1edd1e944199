"""Generated submissions that the grading pipeline is tested against.

Every submission is the committed student release of a topic (``notebooks/NN_topic/``)
with some cells edited, written as a student would hand it in:

- ``perfect``: each solution cell holds the solutions' answer (marker lines removed);
- ``untouched``: the release as handed out;
- one *mistake* per graded function (``MISTAKES``): the perfect submission with one
  source transformation applied to that function's answer, e.g. a Gram matrix divided by
  H·W; the transformation must match the solution text exactly once, so a change to a
  solution that silently removes a mistake fails loudly instead;
- *hostile* submissions (``HOSTILE``, on notebook 01): an infinite loop, megabytes of
  output, deleted and edited test cells, ``os._exit``, an exception in the set-up cell,
  and code that searches the disk for the hidden tests;
- *cheating* submissions (``CHEATS``, students ``cheat-*``): a wrong answer plus code that
  rebinds the checks in the kernel or patches ``helpers.checking``; they must lose the
  wrong answer's points and be flagged (``instructor.grading.tampering``).

    python -m instructor.submissions OUT [--topics 01 07] [--students 20]

writes ``OUT/<student>/<topic>/<notebook>.ipynb`` (nbgrader's ``submitted/`` layout) and
``OUT/expected.json`` (for each student and topic, which exercises must lose points).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from instructor.coursedir import RELEASE, SOLUTIONS, resolve_topics

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Mistake:
    """A characteristic wrong answer to ``function``: replace ``old`` by ``new`` in its answer.

    ``also_breaks`` names other graded functions whose tests must fail as well because
    their answer calls this one (texture_loss calls gram_matrix).
    """

    function: str
    name: str
    old: str
    new: str
    also_breaks: tuple[str, ...] = field(default=())


MISTAKES: dict[str, list[Mistake]] = {
    "01": [
        Mistake("conv_output_size", "ignores dilation",
                "dilation * (kernel_size - 1)", "(kernel_size - 1)"),
        Mistake("receptive_field", "updates the jump before the size",
                "size = size + (kernel_size - 1) * dilation * jump\n        jump = jump * stride",
                "jump = jump * stride\n        size = size + (kernel_size - 1) * dilation * jump"),
        Mistake("nearest_neighbours", "dot product instead of cosine similarity",
                "q = F.normalize(queries, dim=1)\n    d = F.normalize(database, dim=1)",
                "q = queries\n    d = database"),
    ],
    "02": [
        Mistake("saliency_map", "signed gradient instead of its absolute value",
                "grad.abs().amax(dim=1)", "grad.amax(dim=1)"),
        Mistake("guided_relu_backward", "the deconvnet rule: drops the [inputs > 0] gate",
                "keep = (inputs > 0) & (grad_output > 0)", "keep = grad_output > 0"),
        Mistake("class_visualization_step", "adds the L2 penalty instead of subtracting it",
                "- l2_reg * (x - c).pow(2).sum()", "+ l2_reg * (x - c).pow(2).sum()"),
        Mistake("clip_small_contributions", "signed contribution instead of its absolute value",
                ".sum(dim=1, keepdim=True).abs()", ".sum(dim=1, keepdim=True)"),
    ],
    "03": [
        Mistake("fgsm", "steps against the gradient (the wrong way)",
                "images.detach() + eps * grad.sign()", "images.detach() - eps * grad.sign()"),
        Mistake("targeted_attack", "no projection onto the eps-ball",
                "torch.minimum(torch.maximum(x, x0 - eps), x0 + eps).clamp(0.0, 1.0)", "x.clamp(0.0, 1.0)"),
    ],
    "04": [
        Mistake("inversion_loss", "not normalised by the target's energy",
                " / target.square().sum()", ""),
        Mistake("tv_beta", "exponent beta instead of beta/2",
                ".pow(beta / 2)", ".pow(beta)"),
    ],
    "05": [
        Mistake("dream_objective", "without the 0.5",
                "0.5 * activations.pow(2).sum()", "activations.pow(2).sum()"),
        Mistake("dream_step", "raw gradient, not normalised by its mean magnitude",
                "g / (g.abs().mean() + 1e-8)", "g"),
    ],
    "06": [
        # synthesize_texture's visible test builds its targets with the student's own gram_matrix
        # (a given Gram would ship the answer): a Gram ÷ H·W shrinks the loss to ~1e-8, below what
        # float32 L-BFGS can lower, so that visible test fails too; its hidden tests swap in
        # reference gram_matrix and texture_loss and still pass.
        Mistake("gram_matrix", "divided by H·W",
                "return flat @ flat.transpose(1, 2)", "return flat @ flat.transpose(1, 2) / (h * w)",
                also_breaks=("texture_loss", "synthesize_texture")),
        Mistake("texture_loss", "without the 1/4",
                "(4 * n ** 2 * (h * w) ** 2)", "(n ** 2 * (h * w) ** 2)"),
        Mistake("synthesize_texture", "torch's default L-BFGS tolerances (it stops at once on small losses)",
                "tolerance_grad=0, tolerance_change=0,", ""),
    ],
    "07": [
        Mistake("content_loss", "summed over the whole batch instead of per image, averaged",
                "squared.reshape(squared.shape[0], -1).sum(dim=1).mean()", "squared.sum()"),
        Mistake("tv_loss", "summed over the batch instead of averaged",
                "return (dy + dx).mean()", "return (dy + dx).sum()"),
        Mistake("masked_gram_matrix", "the mask multiplies one factor only: (F ⊙ m) Fᵀ",
                "return flat @ flat.transpose(1, 2)",
                "return flat @ features.reshape(flat.shape).transpose(1, 2)"),
    ],
    "08": [
        # Notebook 08 checks style_reconstruction_loss with a reference Gram (no double penalty).
        Mistake("normalized_gram", "divided by H·W instead of C·H·W",
                "/ (c * h * w)", "/ (h * w)"),
        Mistake("feature_reconstruction_loss", "summed over the batch instead of averaged",
                "return per_image.mean()", "return per_image.sum()"),
        Mistake("style_reconstruction_loss", "summed over the batch instead of averaged",
                "return total.mean()", "return total.sum()"),
        Mistake("train_step", "gradients never zeroed (they pile up across calls)",
                "optimizer.zero_grad()", "pass"),
    ],
}

# Code a hostile student might put in a cell that searches for the hidden tests: the
# grading course around the kernel's working folder (three levels up is an nbgrader
# course root) and the environment. It prints what it found.
SNOOP = '''
import os as _os
_found, _seen = [], 0
_root = _os.path.abspath(_os.path.join(_os.getcwd(), "..", "..", ".."))
for _dir, _subdirs, _files in _os.walk(_root):
    for _f in _files:
        _seen += 1
        try:
            with open(_os.path.join(_dir, _f), "rb") as _fh:
                _data = _fh.read()
        except OSError:
            continue
        if (b"BEGIN HIDDEN" + b" TESTS") in _data or (b"all hidden" + b" checks of") in _data:
            _found.append(_os.path.join(_dir, _f))
_found += [k for k, v in _os.environ.items() if "solutions" in v]
print(f"SNOOP searched {_seen} files under {_root}: found {_found}")
'''


def notebook_path(folder: Path) -> Path:
    """The one notebook of a topic folder."""
    found = sorted(folder.glob("*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebook in {folder}, found {len(found)}")
    return found[0]


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def answers(topic: str, solutions: Path = SOLUTIONS) -> dict[str, str]:
    """``{grade_id: answer body}`` of every solution cell of a topic (between the markers)."""
    nb = json.loads(notebook_path(solutions / topic).read_text(encoding="utf-8"))
    out = {}
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and BEGIN in source:
            out[_grade_id(cell)] = source.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")
    return out


def solution_sources(topic: str, solutions: Path = SOLUTIONS) -> dict[str, str]:
    """``{grade_id: full cell source}`` of the solution cells, marker lines removed."""
    nb = json.loads(notebook_path(solutions / topic).read_text(encoding="utf-8"))
    out = {}
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            lines = "".join(cell["source"]).splitlines(keepends=True)
            out[_grade_id(cell)] = "".join(l for l in lines if l.strip() not in (BEGIN, END))
    return out


def graded_functions(topic: str, solutions: Path = SOLUTIONS) -> dict[str, list[str]]:
    """``{solution grade_id: [grade_ids of the test cells after it]}`` in notebook order.

    A solution cell with no test cell after it (a "bring your own" cell that is graded in
    another notebook) is not a graded function and is left out.
    """
    nb = json.loads(notebook_path(solutions / topic).read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    current = None
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            current = meta["grade_id"]
            out.setdefault(current, [])
        elif meta.get("grade") and current is not None:
            out[current].append(meta["grade_id"])
    return {function: tests for function, tests in out.items() if tests}


def _load_release(topic: str, release: Path) -> tuple[str, dict]:
    path = notebook_path(release / topic)
    return path.name, json.loads(path.read_text(encoding="utf-8"))


def _set_source(nb: dict, grade_id: str, source: str) -> None:
    for cell in nb["cells"]:
        if _grade_id(cell) == grade_id:
            cell["source"] = source
            return
    raise KeyError(f"no cell with grade_id {grade_id!r} in the release notebook")


def perfect(topic: str, solutions: Path = SOLUTIONS, release: Path = RELEASE) -> dict:
    """The release with every solution cell answered as in ``solutions/``."""
    _, nb = _load_release(topic, release)
    for grade_id, source in solution_sources(topic, solutions).items():
        _set_source(nb, grade_id, source)
    return nb


def untouched(topic: str, release: Path = RELEASE) -> dict:
    return _load_release(topic, release)[1]


def mistakes_for(topic: str) -> list[Mistake]:
    return MISTAKES.get(topic.split("_", 1)[0], [])


def missing_mistakes(solutions: Path = SOLUTIONS) -> list[str]:
    """``"topic/function"`` for every graded function that has no mistake in ``MISTAKES``."""
    from instructor.coursedir import topics

    out = []
    for topic in topics(solutions):
        covered = {m.function for m in mistakes_for(topic)}
        out += [f"{topic}/{f}" for f in graded_functions(topic, solutions) if f not in covered]
    return out


def with_mistake(topic: str, mistake: Mistake, solutions: Path = SOLUTIONS, release: Path = RELEASE) -> dict:
    """The perfect submission with ``mistake`` applied to its function's answer."""
    nb = perfect(topic, solutions, release)
    source = solution_sources(topic, solutions)[mistake.function]
    count = source.count(mistake.old)
    if count != 1:
        raise ValueError(f"mistake {mistake.name!r} of {topic}/{mistake.function}: {mistake.old!r} occurs "
                         f"{count} times in the solution (needs exactly 1); update instructor/submissions.py")
    _set_source(nb, mistake.function, source.replace(mistake.old, mistake.new))
    return nb


def _cell_index(nb: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if _grade_id(c) == grade_id)


def setup_cell_index(nb: dict) -> int:
    """The set-up cell (imports): the first untagged code cell after the ``parameters`` cell."""
    cells = nb["cells"]
    start = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    return next(i for i, c in enumerate(cells) if i > start and c["cell_type"] == "code"
                and not c.get("metadata", {}).get("tags") and not _grade_id(c))


def hostile(kind: str, solutions: Path = SOLUTIONS, release: Path = RELEASE) -> dict:
    """A hostile or broken submission of notebook 01 (``kind`` one of ``HOSTILE``)."""
    topic = resolve_topics(["01"], solutions)[0]
    nb = perfect(topic, solutions, release)
    sources = solution_sources(topic, solutions)
    if kind == "infinite_loop":
        _set_source(nb, "conv_output_size", "while True:\n    pass\n\n" + sources["conv_output_size"])
    elif kind == "huge_output":
        noisy = ("print('x' * 3_000_000)\nfor _i in range(100_000):\n    print('line', _i)\n\n"
                 + sources["nearest_neighbours"])
        _set_source(nb, "nearest_neighbours", noisy)
    elif kind == "tampered_tests":
        # A wrong conv_output_size whose test cells are replaced by ones that always pass,
        # and the test cells of a correct nearest_neighbours deleted.
        wrong = sources["conv_output_size"].replace("dilation * (kernel_size - 1)", "(kernel_size - 1)")
        _set_source(nb, "conv_output_size", wrong)
        for test in graded_functions(topic, solutions)["conv_output_size"]:
            _set_source(nb, test, "print('all tests passed')")
        for test in graded_functions(topic, solutions)["nearest_neighbours"]:
            del nb["cells"][_cell_index(nb, test)]
    elif kind == "os_exit":
        _set_source(nb, "nearest_neighbours", "import os\nos._exit(0)\n\n" + sources["nearest_neighbours"])
    elif kind == "setup_error":
        cell = nb["cells"][setup_cell_index(nb)]
        cell["source"] = "raise RuntimeError('my set-up is broken')\n" + "".join(cell["source"])
    elif kind == "snoop":
        _set_source(nb, "nearest_neighbours", sources["nearest_neighbours"] + "\n" + SNOOP)
    else:
        raise ValueError(f"unknown hostile submission {kind!r}; choose one of {', '.join(HOSTILE)}")
    return nb


# kind → (exercises of notebook 01 that must lose points, what the case shows)
HOSTILE = {
    "infinite_loop": (["conv_output_size"], "the looping cell times out and scores 0; the rest is graded"),
    "huge_output": ([], "output is cut down; marks unaffected"),
    "tampered_tests": (["conv_output_size"], "edited test cells are restored, deleted ones re-added"),
    "os_exit": (["conv_output_size", "receptive_field", "nearest_neighbours"],
                "the kernel dies: the notebook scores 0, the feedback says why"),
    # Test cells import what they use, and conv_output_size and receptive_field are plain Python:
    # only nearest_neighbours (whose answer uses the set-up's torch) fails.
    "setup_error": (["nearest_neighbours"],
                    "the answers that need the set-up's imports fail; the feedback shows the set-up cell's error"),
    "snoop": ([], "the search finds no hidden tests"),
}


# Cheating submissions: a wrong answer plus code that tries to switch the tests off. Each must
# lose its wrong answer's points and be flagged by ``instructor.grading.tampering``.
REBIND_CHECKS = """
# make every check pass
check = check_close = check_unchanged = lambda *args, **kwargs: None
check_tensor = lambda value, *args, **kwargs: value
"""
PATCH_KIT = """
import helpers.checking
helpers.checking.check = helpers.checking.check_close = lambda *args, **kwargs: None
helpers.checking.check_unchanged = lambda *args, **kwargs: None
helpers.checking.check_tensor = lambda value, *args, **kwargs: value
"""

# kind → (topic, the wrong answer (a mistake's function), code added after it, what the case shows)
CHEATS = {
    "rebind_checks_01": ("01", "conv_output_size", REBIND_CHECKS,
                         "rebinds the checks in the kernel: the tests import their own; no dilation still fails"),
    "patch_kit_01": ("01", "nearest_neighbours", PATCH_KIT,
                     "patches helpers.checking: each test cell re-reads it; the dot product still fails"),
    "rebind_checks_06": ("06", "gram_matrix", REBIND_CHECKS,
                         "rebinds check_close & co. in the kernel: the wrong Gram still fails"),
    "patch_kit_08": ("08", "feature_reconstruction_loss", PATCH_KIT,
                     "patches helpers.checking: the batch sum still fails"),
}


def cheat(kind: str, solutions: Path = SOLUTIONS, release: Path = RELEASE) -> tuple[str, dict, list[str]]:
    """``(topic, notebook, exercises that must lose points)`` of a cheating submission (``kind`` in ``CHEATS``)."""
    if kind not in CHEATS:
        raise ValueError(f"unknown cheating submission {kind!r}; choose one of {', '.join(CHEATS)}")
    number, function, code, _ = CHEATS[kind]
    topic = resolve_topics([number], solutions)[0]
    mistake = next(m for m in mistakes_for(topic) if m.function == function)
    nb = with_mistake(topic, mistake, solutions, release)
    cell = nb["cells"][_cell_index(nb, function)]
    cell["source"] = "".join(cell["source"]).rstrip("\n") + "\n" + code
    return topic, nb, [mistake.function, *mistake.also_breaks]


def write(nb: dict, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def generate(out: Path, topics: list[str] | None = None, students: int | None = None,
             hostile_cases: bool = True, solutions: Path = SOLUTIONS, release: Path = RELEASE) -> dict:
    """Write the generated submissions under ``out`` in nbgrader's submitted/ layout.

    Students: ``perfect``, ``untouched``, the hostile ones (``hostile-<kind>``, notebook 01
    only), one per mistake (``mistake-<function>``, a submission of every topic that is
    perfect except that function), then, when ``students`` asks for more, extra
    ``perfect-<n>`` copies; fewer keeps the first ``students`` of that list. Returns (and
    writes to ``out/expected.json``) for each student and topic the exercises that must
    lose points.
    """
    selected = resolve_topics(topics, solutions)
    expected: dict[str, dict[str, list[str]]] = {}
    plan: list[tuple[str, str, dict, list[str]]] = []
    for topic in selected:
        plan.append(("perfect", topic, perfect(topic, solutions, release), []))
        plan.append(("untouched", topic, untouched(topic, release), list(graded_functions(topic, solutions))))
    if hostile_cases and any(t.startswith("01") for t in selected):
        topic01 = next(t for t in selected if t.startswith("01"))
        for kind, (loses, _) in HOSTILE.items():
            plan.append((f"hostile-{kind.replace('_', '-')}", topic01, hostile(kind, solutions, release), loses))
    for kind in CHEATS:
        topic, nb, loses = cheat(kind, solutions, release) if hostile_cases else (None, None, None)
        if topic in selected:
            plan.append((f"cheat-{kind.replace('_', '-')}", topic, nb, loses))
    for topic in selected:
        for mistake in mistakes_for(topic):
            student = f"mistake-{mistake.function.replace('_', '-')}"
            plan.append((student, topic, with_mistake(topic, mistake, solutions, release),
                         [mistake.function, *mistake.also_breaks]))
            for other in selected:
                if other != topic:
                    plan.append((student, other, perfect(other, solutions, release), []))
    names = list(dict.fromkeys(s for s, *_ in plan))
    if students is not None and students > len(names):
        for n in range(students - len(names)):
            for topic in selected:
                plan.append((f"perfect-{n + 2}", topic, perfect(topic, solutions, release), []))
    elif students is not None:
        keep = set(names[:students])
        plan = [p for p in plan if p[0] in keep]
    for student, topic, nb, loses in plan:
        write(nb, out / student / topic, notebook_path(release / topic).name)
        expected.setdefault(student, {})[topic] = loses
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor submissions", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (nbgrader's submitted/ layout)")
    parser.add_argument("--topics", nargs="*", help="topic numbers or names (default: all)")
    parser.add_argument("--students", type=int, help="exactly this many students (extra perfect copies, or fewer)")
    parser.add_argument("--no-hostile", action="store_true", help="leave out the hostile submissions")
    args = parser.parse_args(argv)
    try:
        expected = generate(args.out, args.topics, args.students, not args.no_hostile)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(expected)} students under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
