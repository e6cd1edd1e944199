"""Intra-op threads: how much faster is one step of each kind of work on all cores than on one?

    python bench/threads.py [--repeats 20]

Times one optimisation step (forward and backward to the image) of the work the notebooks
do, with torch's default thread count (all cores) and with one thread, alternating the two
settings so that load changes hit both alike; the median of ``--repeats`` steps each:

- the toy network on one 32×32 image (notebooks 01–05's offline sections),
- SqueezeNet 1.1 on one 128×128 image (02, 03 on the cpu profile),
- AlexNet on one 224×224 image (01, 02),
- VGG-19 features up to relu5_1 on one 256×256 image (06, 07).

The ratio t(1 thread) / t(all cores) above 1 means the cores help. The rule in
``helpers.devices`` follows from it: torch's default everywhere, and ``cpu_threads(1)``
only around the toy network's tiny batches. Results go to ``bench/results/threads.json``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.common import machine, save  # noqa: E402
from helpers import models, toynet  # noqa: E402
from helpers.devices import cpu_threads  # noqa: E402
from helpers.models import FeatureExtractor  # noqa: E402


def _workloads():
    toy = toynet.random_toynet(0)
    squeeze = models.load_model("squeezenet1_1", "random")
    alex = models.load_model("alexnet", "random")
    vgg = FeatureExtractor("vgg19", ["relu5_1"], "random")
    return {
        "toy network, 32 px": (lambda x: toy(x)[0, 0], 32),
        "SqueezeNet 1.1, 128 px": (lambda x: squeeze(x)[0, 0], 128),
        "AlexNet, 224 px": (lambda x: alex(x)[0, 0], 224),
        "VGG-19 to relu5_1, 256 px": (lambda x: vgg(x)["relu5_1"].square().mean(), 256),
    }


def _step_seconds(score, size: int, threads: int | None) -> float:
    x = torch.rand(1, 3, size, size, requires_grad=True)
    with cpu_threads(threads):
        start = time.perf_counter()
        (g,) = torch.autograd.grad(score(x), x)
        g.sum().item()
        return time.perf_counter() - start


def run(repeats: int) -> dict:
    out = {}
    for name, (score, size) in _workloads().items():
        for threads in (None, 1):          # warm up both settings
            _step_seconds(score, size, threads)
        times = {"all": [], "one": []}
        for _ in range(repeats):
            times["all"].append(_step_seconds(score, size, None))
            times["one"].append(_step_seconds(score, size, 1))
        all_s, one_s = statistics.median(times["all"]), statistics.median(times["one"])
        out[name] = {"all_cores_ms": 1e3 * all_s, "one_thread_ms": 1e3 * one_s, "speed_up": one_s / all_s}
        print(f"{name:>28}: all cores {1e3 * all_s:8.2f} ms · one thread {1e3 * one_s:8.2f} ms · "
              f"cores give ×{one_s / all_s:.2f}", flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    save("threads", {"machine": machine(), "repeats": args.repeats, "results": run(args.repeats)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
