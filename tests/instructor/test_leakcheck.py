"""The release-time leak check: clean on the committed release, and it finds planted leaks."""
from __future__ import annotations

import json
import shutil

import pytest

from instructor import leakcheck
from instructor.coursedir import RELEASE, SOLUTIONS, topics
from instructor.submissions import graded_functions, notebook_path


@pytest.fixture(scope="module")
def committed():
    return leakcheck.check(log=lambda *_: None)


def test_committed_release_has_no_leak(committed):
    assert committed.leaks == [], "\n".join(map(str, committed.leaks))
    assert committed.candidates >= 20, "the given cells' functions were not found"


def test_every_graded_function_is_probed(committed):
    expected = {f"{t}/{f}" for t in topics(SOLUTIONS) for f in graded_functions(t, SOLUTIONS)}
    assert set(committed.probes) == expected
    assert all(n >= 2 for n in committed.probes.values()), committed.probes


def _plant(tmp_path, topic: str, source: str, course=RELEASE):
    """A copy of ``course`` (the release, or ``SOLUTIONS``) where ``topic``'s notebook has one more given code cell."""
    release = tmp_path / course.name
    shutil.copytree(course, release)
    path = notebook_path(release / topic)
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["cells"].insert(3, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": source.splitlines(keepends=True)})
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return release


PLANTED = {
    # 06's gram_matrix under another name, in notebook 07 (the original leak)
    "function": ("07_style_transfer", "channel_stats", "gram_matrix",
                 "import torch\n\ndef channel_stats(t):\n    b, c, h, w = t.shape\n    flat = t.reshape(b, c, h * w)\n"
                 "    return flat @ flat.transpose(1, 2)\n"),
    # 08's normalized_gram as a lambda in a given cell
    "lambda": ("08_fast_style_transfer", "gram", "normalized_gram",
               "import torch\ngram = lambda x: torch.einsum('bchw,bdhw->bcd', x, x) / x[0].numel()\n"),
    # 07's tv_loss as a module's forward
    "module": ("05_deepdream", "Smoothness", "tv_loss",
               "import torch\n\nclass Smoothness(torch.nn.Module):\n    def forward(self, x):\n"
               "        dy = (x[:, :, 1:] - x[:, :, :-1]).pow(2).flatten(1).sum(1)\n"
               "        dx = (x[..., 1:] - x[..., :-1]).pow(2).flatten(1).sum(1)\n"
               "        return (dy + dx).mean()\n"),
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_leak_is_found(tmp_path, kind):
    topic, name, function, source = PLANTED[kind]
    release = _plant(tmp_path, topic, source)
    findings = leakcheck.check([topic], release=release, log=lambda *_: None)
    assert [(leak.candidate, leak.function) for leak in findings.leaks] == [(name, function)]
    assert name in str(findings.leaks[0]) and topic in str(findings.leaks[0])


def test_a_different_statistic_is_not_a_leak(tmp_path):
    # The Gram divided by H·W (a common mistake, and a different function) must not be reported.
    source = ("import torch\n\ndef per_position_gram(t):\n    b, c, h, w = t.shape\n    flat = t.reshape(b, c, h * w)\n"
              "    return flat @ flat.transpose(1, 2) / (h * w)\n")
    release = _plant(tmp_path, "07_style_transfer", source)
    assert leakcheck.check(["07"], release=release, log=lambda *_: None).leaks == []


def test_release_command_fails_on_a_leak(tmp_path, capsys):
    from instructor import release as release_cli

    topic, name, _, source = PLANTED["function"]
    solutions = _plant(tmp_path, topic, source, course=SOLUTIONS)
    out = tmp_path / "release"
    assert release_cli.main(["07", "--solutions", str(solutions), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert f"LEAK 07_style_transfer/style_transfer.ipynb: the given `{name}`" in captured.err
    assert "1 leaks" in captured.out


def test_a_runaway_given_function_is_cut_off(monkeypatch):
    monkeypatch.setattr(leakcheck, "CALL_SECONDS", 1)
    probe = leakcheck.Probe((1,), {}, 2)

    def forever(x):
        while True:
            pass

    assert leakcheck._call(forever, probe) is None
