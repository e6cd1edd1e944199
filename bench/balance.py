"""Balance of notebook 07's two terms: first-step style-gradient norm over content-gradient norm.

    python bench/balance.py [--sizes 128 512] [--weights random]

At a white-noise image (Gatys et al. 2016's initialisation), the gradient of each weighted
term with respect to the pixels is taken separately; the ratio of their norms says which
term drives the first steps (≈ 1: both; ≫ 1: the photo is ignored; ≪ 1: style barely
moves). Two objectives are compared at each size:

* ``before``: VGG-19 as trained (no filter normalisation), content ½Σ(F−P)², style
  β·Σ_l E_l/5 with β = 1e3 (and with the former offline β = 1e5);
* ``after``: Gatys's normalised network (``normalize_filters=True``), content
  α·½Σ(F−P)²·2/(C·H·W) (the mean squared error), style β·Σ_l (4/N_l²)·E_l with α = 1,
  β = 1e3 (the authors' code, converted: ``helpers.references``).

Both use the reference answers of notebook 07 for the loss functions.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.common import save  # noqa: E402
from helpers import images, references  # noqa: E402
from helpers.models import FeatureExtractor  # noqa: E402
from instructor.answers import solution_namespace  # noqa: E402

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def _gram(f: torch.Tensor) -> torch.Tensor:
    flat = f.reshape(f.shape[0], f.shape[1], -1)
    return flat @ flat.transpose(1, 2)


def gradient_ratio(extractor, content, style, *, per_element: bool, beta: float, layer_weights,
                   content_loss, style_loss, seed: int = 0) -> dict:
    """‖∇ style term‖ / ‖∇ content term‖ at a seeded white-noise image the size of ``content``."""
    with torch.no_grad():
        target = extractor(content)[CONTENT_LAYER]
        grams = [_gram(extractor(style)[l]) for l in STYLE_LAYERS]
        m_content = {l: f.shape[-2] * f.shape[-1] for l, f in extractor(content).items()}
        m_style = {l: f.shape[-2] * f.shape[-1] for l, f in extractor(style).items()}
        grams = [g * (m_content[l] / m_style[l]) for g, l in zip(grams, STYLE_LAYERS)]
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
    f = extractor(noise)
    c = content_loss(f[CONTENT_LAYER], target)
    if per_element:
        c = references.per_element_content(c, f[CONTENT_LAYER])
    s = beta * style_loss([f[l] for l in STYLE_LAYERS], grams, layer_weights)
    g_content, = torch.autograd.grad(c, noise, retain_graph=True)
    g_style, = torch.autograd.grad(s, noise)
    return {"content_grad_norm": float(g_content.norm()), "style_grad_norm": float(g_style.norm()),
            "ratio": float(g_style.norm() / g_content.norm()), "content_term": float(c), "style_term": float(s)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--weights", default="random")
    p.add_argument("--content", default="chelsea")
    p.add_argument("--style", default="ihc")
    args = p.parse_args(argv)
    ns = solution_namespace("07_style_transfer")
    losses = {"content_loss": ns["content_loss"], "style_loss": ns["texture_loss"]}
    plain = FeatureExtractor("vgg19", [CONTENT_LAYER] + STYLE_LAYERS, weights=args.weights, pooling="avg")
    normed = FeatureExtractor("vgg19", [CONTENT_LAYER] + STYLE_LAYERS, weights=args.weights, pooling="avg",
                              normalize_filters=True)
    equal = [1 / len(STYLE_LAYERS)] * len(STYLE_LAYERS)
    results = {}
    for size in args.sizes:
        content = images.load_image(args.content, size=size)
        style = images.load_image(args.style, size=size)
        row = {
            "before (β = 1e3)": gradient_ratio(plain, content, style, per_element=False, beta=1e3,
                                               layer_weights=equal, **losses),
            "before (offline β = 1e5)": gradient_ratio(plain, content, style, per_element=False, beta=1e5,
                                                       layer_weights=equal, **losses),
            "after (normalised, converted)": gradient_ratio(
                normed, content, style, per_element=True, beta=references.GATYS_STYLE_NUMERATOR,
                layer_weights=references.gatys_layer_weights(), **losses),
        }
        results[str(size)] = row
        for name, r in row.items():
            print(f"{size} px  {name:32s} style/content gradient norm ratio {r['ratio']:.3g}  "
                  f"(content {r['content_grad_norm']:.3g}, style {r['style_grad_norm']:.3g})", flush=True)
    save("balance", {"weights": args.weights, "content": args.content, "style": args.style, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
