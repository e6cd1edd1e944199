"""The benchmark harness: both Gatys pipelines compute the same objective, and the report is
written from whatever results exist. (Benchmarks themselves are not run here: they take minutes.)"""
from __future__ import annotations

import json
import sys

import pytest
import torch

from instructor.course import repo_root

REPO = repo_root()
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

    base = run_baseline(problem, iterations=4, dense=2, every=2)
    start = base["curve"][0][1]
    assert base["final"] < start and base["iterations"] == 4
    kit = run_kit(problem, iterations=6, coarse_iterations=3, levels=2)
    assert kit["final"] < start
    coarse, fine = kit["sizes"][0], kit["sizes"][-1]
    assert fine == list(problem.hw) and coarse[0] * coarse[1] < fine[0] * fine[1]
    assert kit["steps"] == [3, 6] and not kit["bf16"]
    # one point per fine iteration (dense), plus the start and the end
    assert len(kit["curve"]) == 6 + 2 and all(t2 >= t1 for (t1, _), (t2, _) in zip(kit["curve"], kit["curve"][1:]))


def test_memory_sides_stop_at_the_evaluation_budget_and_lower_the_objective(monkeypatch):
    from bench import gatys

    problem = gatys.Problem(48, 0)
    monkeypatch.setattr(gatys, "Problem", lambda size, seed=0: problem)
    start = problem.evaluate(problem.content)
    for side in gatys.MEMORY_SIDES:
        out = gatys.memory_side(side, 48, evaluations=5)
        assert out["side"] == side and out["final"] < start
        # the strong-Wolfe search may finish the iteration it is in; the kit's may add a few trials
        assert 5 <= out["evaluations"] <= 5 + 25, out
        assert out["peak_rss_mib"] >= out["rss_after_setup_mib"] > 0


def test_report_lists_missing_benchmarks_and_prints_the_ratio(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "results"))
    import importlib

    import bench.common
    import bench.report
    importlib.reload(bench.common)
    report = importlib.reload(bench.report)
    machine = bench.common.machine()
    kit = {"final": 9.5, "seconds": 80.0, "evaluations": 301, "iterations": 300, "sizes": [[128, 128]], "bf16": False}
    pair = {"baseline": {"seconds": 100.0, "final": 10.0, "curve": [], "iterations": 300}, "kit": kit,
            "kit_bfloat16": {**kit, "final": 9.6, "bf16": True}, "kit_reached_s": 15.0, "kit_bfloat16_reached_s": 10.0,
            "ratio": 0.15, "baseline_99_s": 60.0, "kit_99_s": 12.0, "baseline_best": 9.8, "baseline_best_s": 5.0,
            "kit_to_baseline_best_s": 16.0, "bf16_vs_float32_final": 0.001}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "gatys_quality.json").write_text(json.dumps(
        {"machine": machine, "size": [128, 128], "iterations": 300, "runs": 1, "alpha": 1.0, "beta": 2.0,
         "pairs": [pair], "median_ratio": 0.15}))
    text = report.write(tmp_path / "BENCHMARKS.md").read_text()
    assert "\ntime-to-quality ratio: 0.15\n" in text
    assert "Not measured yet: `python bench/run.py texture`" in text
    importlib.reload(bench.common)
    importlib.reload(bench.report)


def test_report_checks_the_notebook_budgets_and_shows_the_grading_speed_up(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "results"))
    import importlib

    import bench.common
    import bench.report
    importlib.reload(bench.common)
    report = importlib.reload(bench.report)
    machine = bench.common.machine()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notebooks.json").write_text(json.dumps({"machine": machine, "results": {
        "smoke": {"notebooks": {"01_cnn_recap": 20.0, "02_gradient_ascent": 30.0}, "total": 200.0},
        "cpu": {"notebooks": {"01_cnn_recap": 40.0, "06_texture_synthesis": 301.0}, "total": 400.0}}}))
    (tmp_path / "results" / "grading.json").write_text(json.dumps({"machine": machine, "many": {
        "topic": "01_cnn_recap", "students": 20, "runs": {
            "1": {"seconds": 400.0, "speed_up": 1.0, "per_student_median_s": 20.0, "same_scores_as_first_run": True},
            "2": {"seconds": 250.0, "speed_up": 1.6, "per_student_median_s": 24.0,
                  "same_scores_as_first_run": True}}}}))
    text = report.write(tmp_path / "BENCHMARKS.md").read_text()
    assert "| cpu | 01_cnn_recap | 40 | yes |" in text
    assert "| cpu | 06_texture_synthesis | 301 | **no** |" in text
    assert "| smoke | **all** (wall, with start-up) | **200** | **no** |" in text
    assert "| 2 | 250 | 1.60 | 24.0 | yes |" in text
    importlib.reload(bench.common)
    importlib.reload(bench.report)
