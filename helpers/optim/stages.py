"""The stage loop every image loop runs on: the stages of a schedule (size, steps, learning
rate, precision), moving the image from one size to the next, and the steps of each."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from helpers.images import resize
from helpers.optim.tracker import LoopTracker
from helpers.transforms import apply

Tensor = torch.Tensor


def size_hw(size, ref_hw: tuple[int, int]) -> tuple[int, int]:
    """An int is the longest side (aspect kept); a pair is (H, W)."""
    if isinstance(size, int):
        h, w = ref_hw
        if h >= w:
            return size, max(1, round(w * size / h))
        return max(1, round(h * size / w)), size
    h, w = size
    return int(h), int(w)


def resize_to(image: Tensor, hw: tuple[int, int]) -> Tensor:
    """``image`` at ``hw`` with the kit's one resize, not clamped (``project`` does that)."""
    return resize(image, tuple(hw), clamp=False)


def prepare(init: Tensor, device) -> Tensor:
    if not isinstance(init, Tensor):
        raise TypeError(f"init must be a tensor image [B, 3, H, W], got {type(init).__name__}")
    if not init.is_floating_point():
        raise TypeError(f"init must be a float image in [0, 1], got dtype {init.dtype}")
    x = init.detach()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"init must be [B, 3, H, W] (or [3, H, W]), got shape {tuple(init.shape)}")
    dev = torch.device(device) if device is not None else x.device
    return x.to(device=dev, dtype=torch.float32).clone()


def projected(x: Tensor, project) -> Tensor:
    with torch.no_grad():
        return project(x) if project is not None else x


def post_process(x: Tensor, post_step: Sequence, project, step: int, grad: Tensor | None) -> Tensor:
    for t in post_step:
        x = apply(t, x, step=step, grad=grad)
    return project(x) if project is not None else x


# --------------------------------------------------------------------------- the stage loop

@dataclass(frozen=True)
class StagePlan:
    size: tuple[int, int]
    steps: int
    lr: float | None = None
    autocast: Any = None


def per_stage(value, n: int, what: str) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{what} lists {len(values)} values for {n} stage(s)")
    return values


def plan_stages(x0: Tensor, schedule, steps, lr=None, autocast=None) -> list[StagePlan]:
    """The stages: one per size of ``schedule`` (one at the start size without one), each
    with its step count, learning rate and precision (each a value, or a list with one per stage)."""
    hw = tuple(x0.shape[-2:])
    sizes = [hw] if schedule is None else [size_hw(s, hw) for s in schedule]
    if not sizes:
        raise ValueError("schedule must list at least one size")
    counts = [int(n) for n in per_stage(steps, len(sizes), "steps")]
    if any(n < 0 for n in counts):
        raise ValueError(f"steps must be >= 0, got {steps!r}")
    rates, precisions = per_stage(lr, len(sizes), "lr"), per_stage(autocast, len(sizes), "autocast")
    return [StagePlan(*stage) for stage in zip(sizes, counts, rates, precisions)]


def stage_change(rescale: Callable[[Tensor, tuple[int, int]], Tensor], project) -> Callable:
    """Moving the image to the next stage's size: ``rescale`` it, then ``project`` it."""
    def enter(image: Tensor, size: tuple[int, int]) -> Tensor:
        with torch.no_grad():
            x = rescale(image, size)
            if project is not None:
                x = project(x)
        return x.contiguous()
    return enter


def run_stages(run: LoopTracker, plan: Sequence[StagePlan], enter: Callable, make_stage: Callable):
    """The loop every image algorithm shares: for each stage, move the image to its size,
    set the stage up, take its steps. Returns the last stage (``None`` if none began)."""
    stage = None
    with run.guarded():
        for index, spec in enumerate(plan):
            x = enter(run.image, spec.size)
            run.begin_stage(x, spec.steps, spec.size, index=index, count=len(plan))
            stage = make_stage(spec, x)
            for _ in range(spec.steps):
                step, start = run.steps_done, time.perf_counter()
                values, candidate, new = stage.step(step)
                run.offer_best(values, candidate)
                run.after_step(values, new, time.perf_counter() - start)
    return stage
