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


def test_both_pipelines_lower_the_shared_objective_and_report_what_they_showed(problem):
    from bench.gatys import run_baseline, run_kit

    base = run_baseline(problem, iterations=4)
    start = base["curve"][0][2]
    assert base["final"] < start and base["evaluations"] == len(base["curve"])
    # torch's LBFGS stops at max_iter, at its evaluation cap (1.25 × max_iter) or when its line search fails
    assert 1 <= base["iterations"] <= 4 and base["evaluations"] <= 5 + 1
    assert base["stopped"] in ("budget", "evaluation cap", "line search found no step")
    # the baseline's values are those of the clamped images it evaluated: its last one is its final image's
    assert abs(base["final"] - base["curve"][-1][2]) <= 0.05 * start
    from bench.gatys import Problem

    wider = Problem(96, seed=0)  # 64×96: a half-size stage keeps sides of at least 32 px
    kit = run_kit(wider, iterations=6, coarse_iterations=3, levels=2, coarse_precision="bfloat16", bf16_cost=0.5)
    problem, start = wider, wider.evaluate(wider.content)
    assert kit["final"] < start
    coarse, fine = kit["sizes"][0], kit["sizes"][-1]
    assert fine == list(problem.hw) and coarse[0] * coarse[1] < fine[0] * fine[1]
    assert kit["steps"] == [3, 6] and kit["precisions"] == ["bfloat16", "float32"]
    # one point per full-size iteration plus the final value, which is the evaluator's value of the image
    assert len(kit["curve"]) == 6 + 1 and abs(kit["curve"][-1][2] - kit["final"]) <= 1e-3 * kit["final"]
    times, counts = [c[0] for c in kit["curve"]], [c[1] for c in kit["curve"]]
    assert times == sorted(times) and counts == sorted(counts)
    # coarse evaluations count as their share of the pixels, halved for bfloat16
    share = coarse[0] * coarse[1] / (fine[0] * fine[1])
    assert counts[0] >= 3 * share * 0.5 + 1 and kit["equivalent_evaluations"] < kit["evaluations"]


def test_compare_reads_times_and_evaluations_off_both_curves():
    from bench.gatys import compare

    base = {"curve": [(1.0, 1, 100.0), (2.0, 2, 60.0), (4.0, 4, 50.0), (9.0, 9, 40.0)]}
    kit = {"final": 30.0, "curve": [(0.5, 1.5, 70.0), (0.9, 3.0, 40.5), (1.2, 4.0, 39.0)]}
    c = compare(base, kit)
    assert c["baseline_best"] == 40.0 and c["baseline_reached_best"] == (9.0, 9)
    assert c["kit_reached_best"] == (1.2, 4.0) and c["time_ratio_best"] == 1.2 / 9.0
    assert c["evaluation_ratio_best"] == 4.0 / 9
    # 99 % of the reduction: 100 − 0.99·60 = 40.6
    assert c["kit_reached_99"] == (0.9, 3.0) and c["baseline_reached_99"] == (9.0, 9)
    never = compare(base, {"final": 45.0, "curve": [(1.0, 1.0, 45.0)]})
    assert never["time_ratio_best"] is None and never["evaluation_ratio_best"] is None


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

    def side(ratio):
        run = {"final": 9.5, "seconds": 80.0}
        return {"run": run, "baseline_best": 9.8, "baseline_reached_best": [100.0, 300], "kit_reached_best":
                [100 * ratio, 300 * ratio], "time_ratio_best": ratio, "evaluation_ratio_best": ratio,
                "time_ratio_99": 0.5, "evaluation_ratio_99": 0.5}

    def problem(ratios):
        return {"content": "chelsea", "style": "ihc", "hw": [170, 256], "alpha": 1.0, "beta": 2.0, "bf16_cost": 0.6,
                "coarse_hw": [85, 128],
                "rounds": [{"kit": side(r), "baseline": {"iterations": 30, "evaluations": 357}} for r in ratios],
                "median": {"kit": {"time_ratio_best": sorted(ratios)[1], "evaluation_ratio_best": sorted(ratios)[1],
                                   "time_ratio_99": 0.5, "evaluation_ratio_99": 0.5}}}

    (tmp_path / "results").mkdir()
    for size, first, second in ((256, [0.1, 0.2, 0.3], [0.12, 0.15, 0.15]), (512, [0.01] * 3, [0.02] * 3)):
        (tmp_path / "results" / f"gatys_quality_{size}.json").write_text(json.dumps(
            {"machine": machine, "size": size, "iterations": 300, "kit_iterations": 100, "runs": 3,
             "problems": {"a": problem(first), "b": problem(second)}}))
    text = report.write(tmp_path / "BENCHMARKS.md").read_text()
    assert "\ntime-to-quality ratio: 0.15\n" in text  # the median of every 256 px run of the default
    assert "ended after chelsea: 30 iterations, 357 evaluations (line search found no step)" in text
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
    (tmp_path / "results" / "testsuite.json").write_text(json.dumps({
        "machine": machine, "workers": 2, "seconds": 446.2, "returncode": 0, "summary": "707 passed",
        "command": "python -m pytest -q -n 2 --dist loadfile"}))
    text = report.write(tmp_path / "BENCHMARKS.md").read_text()
    assert "| 2 | 446 s (7.4 min) | 707 passed; all passed |" in text
    assert "| cpu | 01_cnn_recap | 40 | yes |" in text
    assert "| cpu | 06_texture_synthesis | 301 | **no** |" in text
    assert "| smoke | **all** (wall, with start-up) | **200** | **no** |" in text
    assert "| 2 | 250 | 1.60 | 24.0 | yes |" in text
    importlib.reload(bench.common)
    importlib.reload(bench.report)


def test_the_suite_benchmark_reads_pytests_summary_line():
    from bench.testsuite import SUMMARY

    out = "....\n[100%]\n2 failed, 705 passed, 1 skipped in 446.12s (0:07:26)\n"
    assert SUMMARY.findall(out)[-1][0] == "2 failed, 705 passed, 1 skipped"
    assert SUMMARY.findall("= 707 passed in 3.5s =")[-1][0] == "707 passed"
