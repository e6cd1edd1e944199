"""``make check-weights`` (instructor.check_weights): the random-weights run writes a labelled
report, missing ImageNet weights give one clear error, and the exit status follows the mode."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from instructor import check_weights as cw
from instructor.course import repo_root

REPO = repo_root()


def test_random_run_writes_a_labelled_report(tmp_path, capsys):
    out = tmp_path / "report"
    status = cw.main(["--weights", "random", "--topics", "03", "05", "--out", str(out)])
    assert status == 0, "with random weights every check ran, so the exit status is 0 whatever the values"
    page = (out / "index.html").read_text(encoding="utf-8")
    table_at = page.index("<table")
    assert "RANDOM WEIGHTS" in page[:table_at] and "proves only that the command works" in page[:table_at]
    header = re.search(r"<tr><th>.*?</tr>", page).group(0)
    for column in ("check", "threshold", "measured", "result", "source of the threshold"):
        assert f"<th>{column}</th>" in header
    rows = re.findall(r"<tr><td>(\d\d)</td>", page)
    assert rows.count("03") == 2 and rows.count("05") == 1, rows
    assert set(re.findall(r'<td class="(\w+)">', page)) == {"na"}, "with random weights no check counts as pass or fail"
    pictures = re.findall(r'<img src="([^"]+)"', page)
    assert {"03-fgsm.png", "03-targeted.png", "05-dream.png"} <= set(pictures)
    assert all((out / p).is_file() and (out / p).stat().st_size > 1000 for p in pictures)
    printed = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in printed and "FGSM at ε = 8/255" in printed


def test_missing_imagenet_weights_give_one_clear_error(tmp_path):
    env = dict(os.environ, TORCH_HOME=str(tmp_path / "empty-torch-home"), MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("KIT_ALLOW_RANDOM_WEIGHTS", None)
    done = subprocess.run([sys.executable, "-m", "instructor.check_weights", "--topics", "03", "07",
                           "--out", str(tmp_path / "report")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "python -m helpers download weights" in done.stderr
    assert "squeezenet1_1-" in done.stderr and "vgg19-" in done.stderr, "each missing file is named"
    assert str(tmp_path / "empty-torch-home") in done.stderr
    assert not (tmp_path / "report" / "index.html").exists()


def test_imagenet_path_runs_on_cached_weights_and_reports_pass_or_fail(tmp_path, monkeypatch):
    """A seeded state dict stands in for SqueezeNet's ImageNet file (its enum's URL points at it):
    the imagenet path loads it from the cache, and the table says pass/FAIL, not 'random'."""
    import hashlib

    import torch
    import torchvision.models as tvm

    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KIT_ALLOW_RANDOM_WEIGHTS", "1")     # must not turn into a silent fallback
    torch.manual_seed(7)
    staged = hub / "staged.pth"
    torch.save(tvm.squeezenet1_1(weights=None).state_dict(), staged)
    path = hub / f"squeezenet1_1-{hashlib.sha256(staged.read_bytes()).hexdigest()[:8]}.pth"
    staged.rename(path)
    enum = tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1
    monkeypatch.setattr(enum.value, "url", f"https://download.invalid/models/{path.name}")

    out = tmp_path / "report"
    status = cw.main(["--topics", "03", "--out", str(out)])
    page = (out / "index.html").read_text(encoding="utf-8")
    cells = re.findall(r'<td class="(\w+)">', page)
    assert status == (0 if set(cells) == {"pass"} else 1)
    assert cells and set(cells) <= {"pass", "fail"}, "imagenet mode marks each check pass or FAIL"
    assert "RANDOM WEIGHTS" not in page and "SqueezeNet1_1_Weights.IMAGENET1K_V1" in page
    assert os.environ.get("KIT_REQUIRE_WEIGHTS") is None, "the run leaves the environment as it found it"


def _report(passed: bool, error: str = "") -> cw.TopicReport:
    return cw.TopicReport("03", checks=[cw.Check("c", "> 0", "1", passed, "s")], error=error)


def test_exit_status_follows_the_mode():
    assert cw.exit_status([_report(False)], random=True) == 0
    assert cw.exit_status([_report(False)], random=False) == 1
    assert cw.exit_status([_report(True)], random=False) == 0
    assert cw.exit_status([_report(True, error="RuntimeError: x")], random=True) == 1


def test_every_topic_has_a_size_an_architecture_and_a_title():
    assert set(cw.TOPICS) == set(cw.DEFAULT_SIZES) == set(cw.ARCHITECTURES) == set(cw.TITLES) == set(cw.NOTEBOOKS)


def test_make_target_and_ci_pass_the_options_through(tmp_path):
    import shutil

    import pytest

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed").touch()  # newer than pyproject.toml: no re-install
    done = subprocess.run(["make", "-n", f"VENV={venv}", "check-weights", "WEIGHTS=random", "TOPIC=02 07"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    assert f"{venv}/bin/python -m instructor check-weights --weights random --topics 02 07" in done.stdout
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make check-weights VENV=\S+ WEIGHTS=random", ci, re.M)
