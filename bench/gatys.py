"""Benchmarks 1 and 2: Gatys et al. (2016) style transfer, time to quality and peak memory.

Both sides minimise the same objective with the same seeded random-weight VGG-19
(pretrained weights are not available on the machine that runs this; with them only the
loss weights would change): content at relu4_2 with notebook 07's ``content_loss``
(½ Σ (F − P)²), style at relu1_1 … relu5_1 with weights 1/5 and notebook 07's
``texture_loss`` (Σ_l w_l Σ (G − Ĝ)² / (4 N² M²)), average pooling, the photo as the start.
The loss weights are balanced for that network: α = 1 and β such that
β · L_style(photo) = α · L_content(uniform-noise image), so the two terms are of the same order.

* **Baseline** (:func:`run_baseline`): the PyTorch tutorial's optimiser with a strong-Wolfe
  line search: one ``torch.optim.LBFGS`` call of N iterations (zero tolerances, so it uses
  its budget), the whole of VGG-19's ``features`` in float32 at full size, the image clamped
  to [0, 1] in place at the start of every closure. Every value it reports is the objective
  of an image it could show. Its target is its best value over the whole run.
* **Kit** (:func:`run_kit`): ``helpers.optim.optimize_image`` as the notebooks call it: its
  default L-BFGS, which keeps the pixels in [0, 1] inside the method
  (``helpers.bounded_lbfgs``), the network truncated after relu5_1; either at one scale in
  float32 (variant ``kit``) or with :func:`helpers.optim.coarse_to_fine`'s schedule, the
  half-size stage in bfloat16 (variant ``coarse_to_fine``).

Each side's curve is its own float32 full-size objective of valid images, so no extra
evaluator runs during the timing: the baseline's value at each closure call, the kit's
value of each full-size iteration's image (timed after the iteration, which is late). The
report gives kit / baseline ratios of wall time and of full-size-equivalent evaluations (a
coarse evaluation counts as its share of the full size's pixels, a bfloat16 one also as its
cost relative to float32 measured in the same run, :func:`evaluation_cost`) to the
baseline's best value and to 99 % of its reduction, and each side's final value measured by
one float32 evaluator.
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

from bench.common import RESULTS, Stopwatch, median, peak_rss_mib, run_json, save  # noqa: E402
from helpers.devices import network_precision  # noqa: E402

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
        with network_precision(None):   # targets in float32, also when first asked for inside a bfloat16 stage
            return self._float32_targets_at(hw, extractor)

    def _float32_targets_at(self, hw, extractor):
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


def run_baseline(problem: Problem, iterations: int, max_evaluations: int | None = None) -> dict:
    """The tutorial-style optimiser: one ``torch.optim.LBFGS`` call of ``iterations``
    iterations with a strong-Wolfe line search on the whole network in float32 at full
    size, the image clamped to [0, 1] in place at the start of every closure (as the PyTorch
    neural-style tutorial does), so every value it reports is the objective of an image it
    could show. Zero tolerances, so it uses its whole budget. The curve is
    ``(seconds, evaluations, value)`` at each closure call."""
    features = full_network_features(problem)
    x = problem.content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=iterations, max_eval=max_evaluations,
                            tolerance_grad=0, tolerance_change=0, history_size=100, line_search_fn="strong_wolfe")
    curve = []
    watch = Stopwatch()

    def closure():
        with torch.no_grad():
            x.clamp_(0, 1)
        opt.zero_grad()
        loss = problem.objective(features(x), problem.hw)
        loss.backward()
        curve.append((watch.elapsed(), len(curve) + 1, float(loss.detach())))
        return loss

    opt.step(closure)
    seconds = watch.elapsed()
    with torch.no_grad():
        x.clamp_(0, 1)
    iters = opt.state[opt._params[0]].get("n_iter", iterations)
    return {"seconds": seconds, "final": problem.evaluate(x), "evaluations": len(curve), "iterations": iters,
            "stopped": stop_reason(iters, len(curve), iterations, opt.defaults["max_eval"]),
            "curve": curve, "image": x.detach().clone()}


def stop_reason(iterations: int, evaluations: int, budget: int, max_eval: int) -> str:
    """Why ``torch.optim.LBFGS.step`` returned: its iteration budget, its evaluation cap
    (``max_eval``, 1.25 × ``max_iter`` by default), or a line search that found no step
    (with zero tolerances, a step of length 0 ends the call)."""
    if iterations >= budget:
        return "budget"
    return "evaluation cap" if evaluations >= max_eval else "line search found no step"


def evaluation_cost(problem: Problem, hw, repeats: int = 5) -> float:
    """Measured cost of one bfloat16 evaluation (forward + backward, kit extractor) at ``hw``
    relative to a float32 one at the same size: the median of ``repeats`` timed pairs."""
    from helpers import models
    from helpers.devices import network_precision

    ext = models.FeatureExtractor(problem.model, LAYERS, pooling="avg")
    x = F.interpolate(problem.content, size=hw, mode="bilinear", align_corners=False)

    def once(amp) -> float:
        y = x.clone().requires_grad_(True)
        watch = Stopwatch()
        with network_precision(amp):
            problem.objective(ext(y), hw).backward()
        return watch.elapsed()

    bf16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    once(None), once(bf16)  # warm-up
    ratios = [once(bf16) / once(None) for _ in range(repeats)]
    return median(ratios)


def run_kit(problem: Problem, iterations: int, *, levels: int = 2, coarse_iterations: int | None = None,
            coarse_precision: str | None = "bfloat16", bf16_cost: float | None = None,
            full_precision: str | None = None) -> dict:
    """The kit's pipeline as notebook 07 runs it: ``helpers.optim.optimize_image`` with its
    default L-BFGS (bounded to [0, 1] inside the method), the extractor truncated after
    relu5_1, and :func:`helpers.optim.coarse_to_fine`'s schedule (``levels`` sizes, the
    coarse ones in ``coarse_precision``). ``iterations`` at the full size. The curve is
    ``(seconds, full-size-equivalent evaluations, value)`` after each full-size iteration,
    with the value the kit recorded for the image that iteration started from (its float32
    objective at full size, of an image in [0, 1]); the time is taken after the iteration,
    so it is later than when that image existed."""
    from helpers import models
    from helpers.optim import coarse_to_fine, optimize_image

    ext = models.FeatureExtractor(problem.model, LAYERS, pooling="avg")
    plan = coarse_to_fine(problem.hw, steps=iterations, levels=levels, coarse_steps=coarse_iterations,
                          coarse_precision=coarse_precision, device="cpu")
    plan["autocast"][-1] = full_precision
    full = problem.hw[0] * problem.hw[1]
    cost = [(h * w / full) * (bf16_cost if amp not in (None, "float32") else 1.0)
            for (h, w), amp in zip(plan["schedule"], plan["autocast"])]
    stage_of = {tuple(size): i for i, size in enumerate(plan["schedule"])}
    equivalent, evaluations, curve = [0.0], [0], []

    def factory(hw):
        i = stage_of[tuple(hw)]

        def objective(x):
            equivalent[0] += cost[i]
            evaluations[0] += 1
            return problem.objective(ext(x), hw)
        return objective

    watch = Stopwatch()

    def callback(state):
        if tuple(state.size) == problem.hw:
            curve.append((watch.elapsed(), equivalent[0], state.losses["total"]))

    start_image = F.interpolate(problem.content, size=plan["schedule"][0], mode="bilinear", align_corners=False)
    result = optimize_image(factory, start_image, callbacks=[callback], progress=False, keep_best=False, **plan)
    seconds = watch.elapsed()
    if result.final_loss is not None:
        curve.append((seconds, equivalent[0], result.final_loss))
    return {"seconds": seconds, "final": problem.evaluate(result.image), "recorded_final": result.final_loss,
            "evaluations": evaluations[0], "equivalent_evaluations": equivalent[0], "iterations": iterations,
            "sizes": [list(s) for s in plan["schedule"]], "steps": list(plan["steps"]),
            "precisions": [str(a or "float32") for a in plan["autocast"]], "curve": curve, "image": result.image}


def first_reach(curve, threshold) -> tuple[float, float] | None:
    """``(seconds, evaluations)`` of the first point of ``curve`` at or below ``threshold``."""
    for t, n, v in curve:
        if v <= threshold:
            return t, n
    return None


def compare(base: dict, kit: dict) -> dict:
    """The kit against the baseline: times and evaluations to the baseline's best value and to
    99 % of the baseline's reduction, as ratios kit / baseline."""
    start = base["curve"][0][2]
    best_t, best_n, best = min(base["curve"], key=lambda c: c[2])
    out = {"baseline_start": start, "baseline_best": best, "kit_final": kit["final"]}
    for key, target in (("best", best), ("99", start - 0.99 * (start - best))):
        b, k = first_reach(base["curve"], target), first_reach(kit["curve"], target)
        out[f"baseline_reached_{key}"] = b
        out[f"kit_reached_{key}"] = k
        out[f"time_ratio_{key}"] = k[0] / b[0] if k else None
        out[f"evaluation_ratio_{key}"] = k[1] / b[1] if k else None
    return out


PAIRS = {"chelsea-ihc": ("chelsea", "ihc"), "astronaut-hubble": ("astronaut", "hubble")}

#: The kit's variants; ``DEFAULT_VARIANT`` is what notebook 07 runs and the report's headline.
VARIANTS = {"kit": dict(levels=1, coarse_precision=None),
            "coarse_to_fine": dict(levels=2, coarse_precision="bfloat16")}
DEFAULT_VARIANT = "kit"
SUMMARY_KEYS = ("time_ratio_best", "evaluation_ratio_best", "time_ratio_99", "evaluation_ratio_99")


def paired(size: int, iterations: int, runs: int, problems=tuple(PAIRS), kit_iterations: int = 100,
           variants=tuple(VARIANTS), seed: int = 0) -> dict:
    """``runs`` rounds per problem of the baseline then each kit variant, one after the other."""
    out = {"size": size, "iterations": iterations, "kit_iterations": kit_iterations, "runs": runs,
           "variants": {v: VARIANTS[v] for v in variants}, "default": DEFAULT_VARIANT, "problems": {}}
    for name in problems:
        content, style = PAIRS[name]
        problem = Problem(size, seed, content=content, style=style)
        coarse = kit_schedule_size(problem.hw)
        bf16_cost = evaluation_cost(problem, coarse)
        rounds = []
        for r in range(runs):
            base = run_baseline(problem, iterations)
            row = {"baseline": base}
            for variant in variants:
                kit = run_kit(problem, kit_iterations, bf16_cost=bf16_cost, **VARIANTS[variant])
                row[variant] = {"run": kit, **compare(base, kit)}
                c = row[variant]
                print(f"{name} {list(problem.hw)} run {r + 1} {variant}: baseline best {c['baseline_best']:.5g} "
                      f"at (s, evaluations) {c['baseline_reached_best']} of {base['seconds']:.1f} s / "
                      f"{base['evaluations']} evaluations; kit final {kit['final']:.5g} in {kit['seconds']:.1f} s, "
                      f"reached the best at {c['kit_reached_best']}; "
                      f"ratios: time {c['time_ratio_best']}, evaluations {c['evaluation_ratio_best']}", flush=True)
            if r == 0:
                _save_pictures(f"gatys_{size}_{name}", problem, row, variants)
            for side in row.values():
                (side.get("run") or side).pop("image", None)
            rounds.append(row)
        summary = {v: {k: _median_or_none([row[v][k] for row in rounds]) for k in SUMMARY_KEYS} for v in variants}
        out["problems"][name] = {"content": content, "style": style, "hw": list(problem.hw), "alpha": problem.alpha,
                                 "beta": problem.beta, "bf16_cost": bf16_cost, "coarse_hw": list(coarse),
                                 "rounds": rounds, "median": summary}
    return out


def _save_pictures(stem: str, problem: Problem, row: dict, variants) -> None:
    """One PNG of the first round: photo, style, the baseline's and each variant's final image."""
    from helpers import display

    pictures = [problem.content, problem.style, row["baseline"]["image"]] + [row[v]["run"]["image"] for v in variants]
    titles = ["photo", "style", f"baseline: {row['baseline']['final']:.4g}"] + [
        f"{v}: {row[v]['run']['final']:.4g}" for v in variants]
    fig = display.show_grid([p.cpu() for p in pictures], titles=titles, ncols=len(pictures),
                            figsize=(3.2 * len(pictures), 3.4))
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / f"{stem}.png", dpi=80, bbox_inches="tight")


def kit_schedule_size(hw) -> tuple[int, int]:
    """The coarsest size of :func:`helpers.optim.coarse_to_fine`'s default schedule for ``hw``."""
    from helpers.optim import coarse_to_fine
    return tuple(coarse_to_fine(hw, steps=1)["schedule"][0])


def _median_or_none(values):
    return median(values) if values and all(v is not None for v in values) else None


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
        run = run_baseline(problem, never, max_evaluations=evaluations)
    else:
        run = run_kit(problem, evaluations, levels=1,
                      coarse_precision=None, bf16_cost=1.0,
                      full_precision=None if side == "kit" else "bfloat16")
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
    t.add_argument("--size", type=int, default=256, help="longest side in pixels (default 256)")
    t.add_argument("--iterations", type=int, default=300, help="the baseline's L-BFGS iterations (default 300)")
    t.add_argument("--kit-iterations", type=int, default=100, help="the kit's iterations at full size (default 100)")
    t.add_argument("--runs", type=int, default=3, help="rounds per problem (default 3)")
    t.add_argument("--problems", nargs="+", choices=sorted(PAIRS), default=list(PAIRS))
    t.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    m = sub.add_parser("memory")
    m.add_argument("--size", type=int, default=512)
    m.add_argument("--evaluations", type=int, default=20)
    s = sub.add_parser("memory-side")
    s.add_argument("side", choices=MEMORY_SIDES)
    s.add_argument("--size", type=int, default=512)
    s.add_argument("--evaluations", type=int, default=20)
    args = p.parse_args(argv)
    if args.what == "quality":
        data = paired(args.size, args.iterations, args.runs, problems=args.problems,
                      kit_iterations=args.kit_iterations, variants=args.variants)
        print(json.dumps({name: p["median"] for name, p in data["problems"].items()}))
        save(f"gatys_quality_{args.size}", data)
    elif args.what == "memory":
        data = memory(args.size, args.evaluations)
        print(json.dumps(data))
        save("gatys_memory", data)
    else:
        print(json.dumps(memory_side(args.side, args.size, args.evaluations)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
