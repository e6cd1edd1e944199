"""Benchmarks 1 and 2: Gatys et al. (2016) style transfer, time to quality and peak memory.

Both sides minimise the same objective with the same seeded random-weight VGG-19
(pretrained weights are not available on the machine that runs this; with them only the
loss weights would change): content at relu4_2 with notebook 07's ``content_loss``
(½ Σ (F − P)²), style at relu1_1 … relu5_1 with weights 1/5 and notebook 07's
``style_loss`` (Σ_l w_l Σ (G − Ĝ)² / (4 N² M²)), average pooling, content initialisation.
The loss weights are balanced for that network: α = 1 and β such that
β · L_style(content image) = α · L_content(uniform-noise image), the rule notebook 07 uses
offline, so the two terms are of the same order.

* **Baseline**: what a careful public implementation does — the whole of VGG-19's
  ``features`` run in float32 at full size every evaluation, a single
  ``torch.optim.LBFGS`` run of N iterations with a strong-Wolfe line search (the loss
  divided by its starting value, so the line search works at a scale of one and the
  objective cannot rise), no projection during the run.
* **Kit**: ``helpers.optim.optimize_image`` as the notebooks call it: its default L-BFGS,
  which keeps the pixels in [0, 1] inside the method (``helpers.bounded_lbfgs``: projected
  L-BFGS with a weak-Wolfe search along the projected path, so it minimises the objective that
  is measured, of the image that is shown) and the network truncated after relu5_1, in
  float32. The same pipeline with bfloat16 autocast for the network (features cast back to
  float32 before the Gram matrices and losses) runs in the first pair: each evaluation is
  about 1.7× faster on an AVX-512-BF16 CPU, but late in the run the decrease per iteration
  falls below bfloat16's rounding of the objective, the Armijo test fails, the line search
  backtracks, and the run ends slower and higher (BENCHMARKS.md §1 gives both runs' times,
  evaluations and final values), so the kit does not use it here. A coarse-to-fine schedule
  is an option (``--levels 2``).

Quality is measured by one float32 evaluator, the objective at full size on the image
clamped to [0, 1], evaluated after each of the first 30 evaluations (baseline) or
iterations (kit), then every 10, with the clock paused. The ratio reported is (kit's time to
reach the baseline's final evaluator value) / (baseline's total time). Because the baseline
lets pixels leave [0, 1], its clamped value is lowest early in its run and then rises; the
report also gives that lowest value and when the kit reached it.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench.common import Stopwatch, median, peak_rss_mib, run_json, save  # noqa: E402

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
LAYERS = STYLE_LAYERS + [CONTENT_LAYER]
STYLE_WEIGHTS = [0.2] * 5


class Problem:
    """The shared objective: images, targets, the student formulas and the float32 evaluator."""

    def __init__(self, size: int, seed: int = 0, content: str = "chelsea", style: str = "ihc"):
        from helpers import images, models
        from instructor.answers import solution_namespace

        ns = solution_namespace("07_style_transfer")
        self.content_loss, self.style_loss = ns["content_loss"], ns["texture_loss"]
        self.model = models.load_model("vgg19", "random", seed=seed)
        self.evaluator = models.FeatureExtractor(self.model, LAYERS, pooling="avg")
        self.content = images.load_image(content, size=size)
        self.hw = tuple(self.content.shape[-2:])
        style_img = images.load_image(style, size=2 * size)
        self.style = F.interpolate(style_img, size=self.hw, mode="bilinear", align_corners=False)
        self.targets = {}
        with torch.no_grad():
            self.targets[self.hw] = self._targets_at(self.hw, self.evaluator)
            noise = torch.rand(self.content.shape, generator=torch.Generator().manual_seed(seed))
            c_noise = self._terms(self.evaluator(noise), self.targets[self.hw], 1.0, 0.0)[0]
            s_content = self._terms(self.evaluator(self.content), self.targets[self.hw], 0.0, 1.0)[1]
        self.alpha = 1.0
        self.beta = float(c_noise / s_content)

    def _targets_at(self, hw, extractor):
        c = (F.interpolate(self.content, size=hw, mode="bilinear", align_corners=False)
             if hw != self.hw else self.content)
        s = F.interpolate(self.style, size=hw, mode="bilinear", align_corners=False) if hw != self.hw else self.style
        fc, fs = extractor(c), extractor(s)
        grams = [torch.einsum("bchw,bdhw->bcd", fs[l].float(), fs[l].float()) for l in STYLE_LAYERS]
        return fc[CONTENT_LAYER].float(), grams

    def _terms(self, feats, targets, alpha, beta):
        content_target, grams = targets
        c = self.content_loss(feats[CONTENT_LAYER].float(), content_target)
        s = self.style_loss([feats[l].float() for l in STYLE_LAYERS], grams, STYLE_WEIGHTS)
        return alpha * c, beta * s

    def objective(self, feats, hw):
        if hw not in self.targets:
            with torch.no_grad():
                self.targets[hw] = self._targets_at(hw, self.evaluator)
        c, s = self._terms(feats, self.targets[hw], self.alpha, self.beta)
        return c + s

    @torch.no_grad()
    def evaluate(self, image) -> float:
        """The float32 objective at full size of ``image`` clamped to [0, 1] (resized first if smaller)."""
        x = image.detach().float().clamp(0, 1)
        if tuple(x.shape[-2:]) != self.hw:
            x = F.interpolate(x, size=self.hw, mode="bilinear", align_corners=False).clamp(0, 1)
        return float(self.objective(self.evaluator(x), self.hw))


def full_network_features(problem: Problem):
    """The baseline's feature function: all of VGG-19's ``features`` every time, hooks at the paper layers."""
    from helpers import layers as layer_tables

    body = copy.deepcopy(problem.model.net.features)
    for i, m in enumerate(body):
        if isinstance(m, torch.nn.MaxPool2d):
            body[i] = torch.nn.AvgPool2d(2, 2)
        if hasattr(m, "inplace"):
            m.inplace = False
    for p in body.parameters():
        p.requires_grad_(False)
    index = {l.name: int(l.node.split(".")[1]) for l in layer_tables.resolve_layers("vgg19", LAYERS)}
    normalize = problem.model.normalize

    def features(x):
        out, h = {}, normalize(x)
        wanted = {i: n for n, i in index.items()}
        for i, m in enumerate(body):
            h = m(h)
            if i in wanted:
                out[wanted[i]] = h
        return out
    return features


def _recorder(problem: Problem, watch: Stopwatch, curve: list, dense: int, every: int):
    """Evaluate the image (clock paused) after each of the first ``dense`` counts, then every ``every``."""
    def record(count: int, image) -> float | None:
        if count <= dense or count % every == 0:
            now = watch.elapsed()  # before the evaluation, which the paused clock leaves out
            with watch.paused():
                value = problem.evaluate(image)
            curve.append((now, value))
            return value
        return None
    return record


def run_baseline(problem: Problem, iterations: int, dense: int = 30, every: int = 10,
                 max_evaluations: int | None = None) -> dict:
    features = full_network_features(problem)
    x = problem.content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=iterations, max_eval=max_evaluations or 10 * iterations,
                            tolerance_grad=0, tolerance_change=0, history_size=100, line_search_fn="strong_wolfe")
    watch = Stopwatch()
    curve = [(0.0, problem.evaluate(x))]
    record = _recorder(problem, watch, curve, dense, every)
    scale = []
    evals = [0]

    def closure():
        opt.zero_grad()
        loss = problem.objective(features(x), problem.hw)
        if not scale:
            scale.append(1.0 / float(loss.detach()))
        (loss * scale[0]).backward()
        evals[0] += 1
        record(evals[0], x)  # the point just evaluated (the line search's trial point)
        return loss * scale[0]

    opt.step(closure)
    total = watch.elapsed()
    final = problem.evaluate(x)
    curve.append((total, final))
    iters = opt.state[opt._params[0]].get("n_iter", iterations)
    return {"seconds": total, "final": final, "evaluations": evals[0], "iterations": iters, "curve": curve}


def kit_schedule(hw, levels: int = 2) -> list[tuple[int, int]]:
    sizes = [hw]
    for _ in range(levels - 1):
        sizes.insert(0, (max(32, sizes[0][0] // 2), max(32, sizes[0][1] // 2)))
    return sizes


def run_kit(problem: Problem, iterations: int, *, bf16: bool = False, levels: int = 1, coarse_iterations: int = 100,
            dense: int = 30, every: int = 10) -> dict:
    """The kit's pipeline: ``helpers.optim.optimize_image`` with its default L-BFGS (bounded to
    [0, 1] inside the method), the extractor truncated after relu5_1, optionally bfloat16
    autocast for the network (features back in float32 for the Gram matrices and losses) and
    a coarse-to-fine schedule. ``iterations`` at the full size."""
    from helpers import models
    from helpers.optim import optimize_image

    amp = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else None
    ext = models.FeatureExtractor(problem.model, LAYERS, pooling="avg", autocast=amp)
    sizes = kit_schedule(problem.hw, levels)
    steps = [coarse_iterations] * (len(sizes) - 1) + [iterations]
    watch = Stopwatch()
    curve = [(0.0, problem.evaluate(problem.content))]
    record = _recorder(problem, watch, curve, dense, every)

    def factory(hw):
        return lambda x: problem.objective(ext(x), hw)

    def callback(state):
        if state.size == problem.hw:
            record(state.step - sum(steps[:-1]), state.image)

    start_image = F.interpolate(problem.content, size=sizes[0], mode="bilinear", align_corners=False)
    result = optimize_image(factory, start_image, steps=steps, schedule=sizes, callbacks=[callback],
                            progress=False, keep_best=False)
    total = watch.elapsed()
    final = problem.evaluate(result.image)
    curve.append((total, final))
    return {"seconds": total, "final": final, "evaluations": result.evaluations, "iterations": iterations,
            "sizes": [list(s) for s in sizes], "steps": steps, "bf16": bf16, "curve": curve}


def time_to(curve, threshold) -> float | None:
    """The first time the curve is at or below ``threshold``."""
    for t, v in curve:
        if v <= threshold:
            return t
    return None


def paired(size: int, iterations: int, runs: int, seed: int = 0, bf16_runs: int = 1, **kit_options) -> dict:
    """``runs`` pairs of baseline and kit (float32); the kit's bfloat16 variant runs in the first
    ``bf16_runs`` pairs (it is slow to finish: see the module docstring)."""
    problem = Problem(size, seed)
    pairs = []
    for r in range(runs):
        base = run_baseline(problem, iterations)
        kit = run_kit(problem, iterations, **kit_options)
        kit16 = run_kit(problem, iterations, **{**kit_options, "bf16": True}) if r < bf16_runs else None
        start = base["curve"][0][1]
        threshold99 = start - 0.99 * (start - base["final"])
        best_t, best = min(base["curve"], key=lambda tv: tv[1])
        reached = time_to(kit["curve"], base["final"])
        pair = {"baseline": base, "kit": kit, "kit_bfloat16": kit16,
                "kit_reached_s": reached,
                "ratio": reached / base["seconds"] if reached is not None else None,
                "kit_bfloat16_reached_s": time_to(kit16["curve"], base["final"]) if kit16 else None,
                "baseline_99_s": time_to(base["curve"], threshold99),
                "kit_99_s": time_to(kit["curve"], threshold99),
                "baseline_best": best, "baseline_best_s": best_t,
                "kit_to_baseline_best_s": time_to(kit["curve"], best),
                "bf16_vs_float32_final": kit16["final"] / kit["final"] - 1 if kit16 else None}
        pairs.append(pair)
        print(f"run {r + 1}: baseline {base['seconds']:.1f} s → {base['final']:.5g} "
              f"(best {best:.5g} at {best_t:.1f} s); "
              f"kit reached it after {reached if reached is None else round(reached, 2)} s, final {kit['final']:.5g} "
              f"in {kit['seconds']:.1f} s ({kit['evaluations']} evaluations)"
              + (f"; bfloat16: {kit16['final']:.5g} in {kit16['seconds']:.1f} s "
                 f"({kit16['evaluations']} evaluations)" if kit16 else "")
              + "; "
              f"ratio {pair['ratio']}", flush=True)
    ratios = [p["ratio"] for p in pairs]
    ok = [r for r in ratios if r is not None]
    return {"size": list(problem.hw), "iterations": iterations, "runs": runs, "alpha": problem.alpha,
            "beta": problem.beta, "pairs": pairs,
            "median_ratio": median(ok) if len(ok) == len(ratios) else None, "ratios": ratios}


# --------------------------------------------------------------------------- benchmark 2: memory at 512 px

MEMORY_SIDES = ("baseline", "kit", "kit_bfloat16")


def memory_side(side: str, size: int, evaluations: int, seed: int = 0) -> dict:
    """One side's optimisation at ``size`` for about ``evaluations`` objective evaluations, in a fresh
    process: the baseline's strong-Wolfe L-BFGS on the whole network, the kit's pipeline as in
    benchmark 1 (float32), or the kit's pipeline with bfloat16 autocast. Peak RSS includes the
    optimiser's history; the quality evaluator runs only at the start and the end."""
    problem = Problem(size, seed)
    rss_setup = peak_rss_mib()
    never = 10 ** 9
    if side == "baseline":
        run = run_baseline(problem, never, dense=0, every=never, max_evaluations=evaluations)
    else:
        run = run_kit(problem, evaluations, bf16=side == "kit_bfloat16", dense=0, every=never)
    return {"side": side, "size": list(problem.hw), "evaluations": run["evaluations"],
            "iterations": run["iterations"], "seconds_per_evaluation": run["seconds"] / run["evaluations"],
            "total_seconds": run["seconds"], "final": run["final"],
            "peak_rss_mib": peak_rss_mib(), "rss_after_setup_mib": rss_setup}


def memory(size: int = 512, evaluations: int = 20) -> dict:
    out = {}
    for side in MEMORY_SIDES:
        out[side] = run_json([sys.executable, __file__, "memory-side", side, "--size", str(size),
                              "--evaluations", str(evaluations)])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("quality")
    t.add_argument("--size", type=int, default=256)
    t.add_argument("--iterations", type=int, default=300)
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--bf16-runs", type=int, default=1, help="pairs that also run the kit in bfloat16 (default 1)")
    t.add_argument("--levels", type=int, default=1, help="coarse-to-fine levels (1: single scale)")
    t.add_argument("--coarse-iterations", type=int, default=100)
    m = sub.add_parser("memory")
    m.add_argument("--size", type=int, default=512)
    m.add_argument("--evaluations", type=int, default=20)
    s = sub.add_parser("memory-side")
    s.add_argument("side", choices=MEMORY_SIDES)
    s.add_argument("--size", type=int, default=512)
    s.add_argument("--evaluations", type=int, default=20)
    args = p.parse_args(argv)
    if args.what == "quality":
        data = paired(args.size, args.iterations, args.runs, bf16_runs=args.bf16_runs, levels=args.levels,
                      coarse_iterations=args.coarse_iterations)
        print(json.dumps({k: v for k, v in data.items() if k != "pairs"}))
        save("gatys_quality", data)
    elif args.what == "memory":
        data = memory(args.size, args.evaluations)
        print(json.dumps(data))
        save("gatys_memory", data)
    else:
        print(json.dumps(memory_side(args.side, args.size, args.evaluations)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
