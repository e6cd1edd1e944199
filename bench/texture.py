"""Benchmark 6: classical texture synthesis (Wei & Levoy 2000), accelerated search against exhaustive.

A 128×128 output from a 64×64 crop of a bundled texture, 3 levels, 5×5 neighbourhoods,
seed 0. ``tree`` (exact k-d tree) must give exactly the exhaustive result; ``tsvq`` (the
paper's tree-structured vector quantisation) is approximate, so its output's difference
is reported too.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.common import save  # noqa: E402


def main(argv=None) -> int:
    from helpers import images
    from helpers.wei_levoy import synthesize

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--texture", default="brick")
    p.add_argument("--sample", type=int, default=64)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--searches", nargs="+", default=["exhaustive", "tree", "auto", "tsvq"])
    args = p.parse_args(argv)
    sample = images.center_crop(images.load_image(args.texture, size=2 * args.sample), args.sample)
    out, results = {}, {}
    for search in args.searches:
        t = time.perf_counter()
        results[search] = synthesize(sample, size=args.size, levels=3, neighbourhood=5, seed=0, search=search).image
        out[search] = {"seconds": time.perf_counter() - t}
        print(f"{search:<11} {out[search]['seconds']:7.1f} s", flush=True)
    if "exhaustive" in results:
        for search in results:
            diff = (results[search] - results["exhaustive"]).abs()
            out[search]["identical_to_exhaustive"] = bool(torch.equal(results[search], results["exhaustive"]))
            out[search]["mean_abs_difference"] = float(diff.mean())
            out[search]["speedup_vs_exhaustive"] = out["exhaustive"]["seconds"] / out[search]["seconds"]
    save("texture", {"texture": args.texture, "sample": args.sample, "size": args.size, "results": out})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
