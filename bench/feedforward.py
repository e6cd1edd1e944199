"""Benchmark 3: feed-forward stylisation throughput (images per second) of the TransformerNet.

Variants on CPU: float32, bfloat16 autocast, channels_last, and both; on CUDA float32 and
float16/bfloat16 autocast when a GPU is present. Batch 1 (the lecture case: one photo at a
time), median of several timed passes after warm-up. The network's weights are random:
speed does not depend on them.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.common import save  # noqa: E402


def variants(device: torch.device):
    if device.type == "cuda":
        return {"float32": (False, None), "float16": (False, torch.float16), "bfloat16": (False, torch.bfloat16),
                "float16+channels_last": (True, torch.float16)}
    return {"float32": (False, None), "bfloat16": (False, torch.bfloat16), "float32+channels_last": (True, None),
            "bfloat16+channels_last": (True, torch.bfloat16)}


def throughput(size: int, device: torch.device, repeats: int = 5) -> dict:
    import copy

    from helpers.fast_style import time_forward
    from helpers.transformer_net import TransformerNet

    torch.manual_seed(0)
    base = TransformerNet().to(device).eval()
    x0 = torch.rand(1, 3, size, size, device=device)
    out = {}
    reference = None
    for name, (cl, dtype) in variants(device).items():
        net = copy.deepcopy(base)
        x = x0.clone()
        if cl:
            net = net.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        amp = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext

        def once():
            with torch.no_grad(), amp():
                return net(x)
        seconds = time_forward(once, repeats=repeats, warmup=1, device=device)
        y = once().float()
        if reference is None:
            reference = y
        err = float((y - reference).abs().max())
        out[name] = {"seconds": seconds, "images_per_second": 1.0 / seconds, "max_abs_difference_vs_float32": err}
        print(f"{device} {size}px {name:<24} {seconds * 1e3:8.1f} ms  {1 / seconds:7.2f} img/s  "
              f"max |Δ| vs float32 {err:.2e}", flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    data = {str(d): {str(s): throughput(s, d, args.repeats) for s in args.sizes} for d in devices}
    save("feedforward", {"results": data, "sizes": args.sizes})
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
