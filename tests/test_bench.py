"""The benchmark harness: both Gatys pipelines compute the same objective, and the report is
written from whatever results exist. (Benchmarks themselves are not run here: they take minutes.)"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="module")
def problem():
    from bench.gatys import Problem
    return Problem(48, seed=0)


def test_baseline_full_network_and_kit_extractor_give_the_same_features(problem):
    from bench.gatys import LAYERS, full_network_features

    x = torch.rand(1, 3, *problem.hw, generator=torch.Generator().manual_seed(0))
    full = full_network_features(problem)(x)
    truncated = problem.evaluator(x)
    for layer in LAYERS:
        torch.testing.assert_close(full[layer], truncated[layer], rtol=1e-4, atol=1e-5)


def test_loss_weights_are_balanced_at_the_start(problem):
    from bench.gatys import CONTENT_LAYER

    with torch.no_grad():
        feats = problem.evaluator(problem.content)
        content, style = problem._terms(feats, problem.targets[problem.hw], problem.alpha, problem.beta)
    assert float(content) == 0.0 and float(style) > 0
    noise = torch.rand(problem.content.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        c_noise = problem._terms(problem.evaluator(noise), problem.targets[problem.hw], 1.0, 0.0)[0]
    torch.testing.assert_close(style, c_noise, rtol=1e-4, atol=0)
    assert CONTENT_LAYER == "relu4_2"


def test_both_pipelines_lower_the_shared_objective(problem):
    from bench.gatys import run_baseline, run_kit

    base = run_baseline(problem, iterations=4, record_every=2)
    start = base["curve"][0][1]
    assert base["final"] < start and base["iterations"] == 4
    kit = run_kit(problem, target=base["final"], max_iterations=40, coarse_iterations=4, block=4, levels=2)
    assert kit["final"] < start
    coarse, fine = kit["sizes"][0], kit["sizes"][-1]
    assert fine == list(problem.hw) and coarse[0] * coarse[1] < fine[0] * fine[1]


def test_report_lists_missing_benchmarks_and_prints_the_ratio(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "results"))
    import importlib

    import bench.common
    import bench.report
    importlib.reload(bench.common)
    report = importlib.reload(bench.report)
    machine = bench.common.machine()
    pair = {"baseline": {"seconds": 100.0, "final": 10.0, "curve": []},
            "kit": {"reached_target_s": 15.0, "final": 9.5, "sizes": [[64, 64], [128, 128]], "block": 20,
                    "bf16": True, "channels_last": False},
            "ratio": 0.15, "baseline_99_s": 60.0, "kit_99_s": 12.0}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "gatys_quality.json").write_text(json.dumps(
        {"machine": machine, "size": [128, 128], "iterations": 300, "runs": 1, "alpha": 1.0, "beta": 2.0,
         "pairs": [pair], "median_ratio": 0.15}))
    text = report.write(tmp_path / "BENCHMARKS.md").read_text()
    assert "\ntime-to-quality ratio: 0.15\n" in text
    assert "Not measured yet: `python bench/run.py texture`" in text
    importlib.reload(bench.common)
    importlib.reload(bench.report)
