"""The grading report's flags (instructor.grading.tampering): cheating code is flagged, honest code is not."""
from __future__ import annotations

import json

import pytest

from instructor import submissions
from instructor.coursedir import RELEASE, SOLUTIONS, topics
from instructor.grading import tampering


def _course(topic):
    load = lambda folder: json.loads(submissions.notebook_path(folder / topic).read_text(encoding="utf-8"))
    return load(RELEASE), load(SOLUTIONS)


@pytest.mark.parametrize("topic", topics())
def test_honest_submissions_are_not_flagged(topic):
    release, solution = _course(topic)
    honest = [submissions.perfect(topic), release] + [submissions.with_mistake(topic, m)
                                                      for m in submissions.mistakes_for(topic)]
    assert all(tampering.flags(nb, release, solution) == [] for nb in honest)


@pytest.mark.parametrize("kind", sorted(submissions.CHEATS))
def test_the_generated_cheats_are_flagged_in_their_cell(kind):
    topic, nb, _ = submissions.cheat(kind)
    release, solution = _course(topic)
    flagged = tampering.flags(nb, release, solution)
    function = submissions.CHEATS[kind][1]
    assert len(flagged) == 4 and all(f.startswith(f"cell {function}, line ") for f in flagged), flagged


def _flags_with(extra: str, topic="01_cnn_recap", function="conv_output_size"):
    nb = submissions.perfect(topic)
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == function)
    cell["source"] = "".join(cell["source"]) + "\n" + extra
    return tampering.flags(nb, *_course(topic))


@pytest.mark.parametrize("code, what", [
    ("import torch\ntorch.allclose = lambda *a, **k: True\n", "changes `torch.allclose`"),
    ("import sys\nsys.modules['helpers.checking'] = None\n", "changes `sys.modules['helpers.checking']`"),
    ("import numpy as torch\n", "binds `torch`"),
    ("isinstance = lambda *a: True\n", "rebinds `isinstance`"),
    ("exec('x = 1')\n", "runs code with `exec`"),
    ("import helpers.checking\nsetattr(helpers.checking, 'check', print)\n", "`setattr` on the module"),
    ("globals()['check_close'] = print\n", "changes `globals()['check_close']`"),
])
def test_each_kind_of_reach_is_flagged(code, what):
    flagged = _flags_with(code)
    assert any(what in f for f in flagged), flagged


def test_ordinary_code_is_not_flagged():
    code = ("import torch\nimport torch.nn.functional as F\n\ndef helper(x):\n    F = x * 2\n    abs = F.sum()\n"
            "    return abs\n\nvalues = [helper(torch.ones(2))]\n")
    assert _flags_with(code) == []
