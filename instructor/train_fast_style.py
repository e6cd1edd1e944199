"""Train a feed-forward style-transfer network on a photo collection (Johnson et al. 2016).

Uses notebook 08's reference answers (``normalized_gram``, ``feature_reconstruction_loss``,
``style_reconstruction_loss``), so it lives on the instructor side. One process::

    python instructor/train_fast_style.py --style starry_night --photos ~/data/coco2014/train --steps 40000

Several GPUs (or CPU processes) with DistributedDataParallel — each process draws its own
batches, gradients are averaged, so the effective batch is ``batch-size × processes``::

    torchrun --nproc_per_node=4 instructor/train_fast_style.py --style … --photos … --steps 10000

Every default comes from ``helpers.references`` (topic 08), which converts PyTorch's
official example (``fast_neural_style/neural_style/neural_style.py``) into the kit's units:
256 px crops, batches of 4, Adam 1e-3, 41 392 steps (two epochs of COCO 2014 at batch 4),
λ_c = 1e5, λ_s = 1e10 with layer weights 1/C_j², the style image at its own size, and the
network trained in the example's 0–255 pixel range (``value_range=255``), so that the
example's weights, gradients and Adam steps are reproduced exactly. A checkpoint is written every
``--checkpoint-every`` steps and on Ctrl-C; running the same command again resumes it.
The final network is written with :func:`helpers.checkpoints.save_checkpoint`'s format and
loads with ``helpers.transformer_net.load_transformer(path)``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# run as a script (torchrun instructor/train_fast_style.py): make the repository importable
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instructor.course import repo_root  # noqa: E402

REPO = repo_root()

TOPIC = "08_fast_style_transfer"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from helpers.references import value

    def ref(name):
        return value("08", name)

    p = argparse.ArgumentParser(prog="train_fast_style.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--style", required=True, help="style image: a path, a bundled sample or a painting name")
    p.add_argument("--photos", default=None, help="folder of training photos (default: the bundled photos)")
    p.add_argument("--steps", type=int, default=ref("training steps"),
                   help="total optimiser steps (default: two epochs of COCO 2014 at batch 4, as the example)")
    p.add_argument("--batch-size", type=int, default=ref("batch size"), help="crops per step and process (default 4)")
    p.add_argument("--crop", type=int, default=ref("training image size"),
                   help="training crop size in pixels (default 256)")
    p.add_argument("--style-size", type=int, default=ref("style image size"),
                   help="longest side of the style image (default: the file's own size, as the example)")
    p.add_argument("--lr", type=float, default=ref("learning rate (Adam)"), help="Adam learning rate (default 1e-3)")
    p.add_argument("--content-weight", type=float, default=ref("content weight λ_c"), help="λ_c (default 1e5)")
    p.add_argument("--style-weight", type=float, default=ref("style weight λ_s"),
                   help="λ_s (default 1e10, with layer weights 1/C_j²)")
    p.add_argument("--weights", default="imagenet", help="loss network weights: imagenet (default) or random")
    p.add_argument("--out", type=Path, default=Path("fast_style_models"), help="output folder")
    p.add_argument("--name", default=None, help="model name (default: the style's file stem)")
    p.add_argument("--checkpoint-every", type=int, default=2000)
    p.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: the best available)")
    p.add_argument("--backend", default=None, help="torch.distributed backend under torchrun (default: nccl on "
                                                   "CUDA, gloo otherwise)")
    p.add_argument("--summary", default=None, help="write a JSON summary per process to this path "
                                                   "('{rank}' is replaced by the process rank)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "crop", "style_size", "checkpoint_every"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def _device(args, local_rank: int | None):
    import torch

    from helpers.devices import pick_device

    if args.device:
        return torch.device(args.device)
    dev = pick_device()
    if dev.type == "cuda" and local_rank is not None:
        return torch.device("cuda", local_rank)
    return dev


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    import torch.distributed as dist

    from helpers import fast_style, images, models, references
    from helpers.transformer_net import TransformerNet
    from instructor.answers import solution_namespace

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ["LOCAL_RANK"]) if "LOCAL_RANK" in os.environ else None
    device = _device(args, local_rank)
    if world > 1:
        backend = args.backend or ("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    rank = dist.get_rank() if world > 1 else 0
    try:
        answers = solution_namespace(TOPIC)
        style = images.load_image(args.style, size=args.style_size).to(device)
        extractor = models.FeatureExtractor("vgg16", list(fast_style.STYLE_LAYERS), weights=args.weights).to(device)
        loss = fast_style.PerceptualLoss(
            extractor, style, gram_fn=answers["normalized_gram"], content_fn=answers["feature_reconstruction_loss"],
            style_fn=answers["style_reconstruction_loss"], content_weight=args.content_weight,
            style_weight=args.style_weight, layer_weights=references.value("08", "style layer weights w_j"),
            content_layer=references.value("08", "content layer"),
            style_layers=references.value("08", "style layers"))
        photos = fast_style.PhotoStream(args.photos, args.crop)
        torch.manual_seed(args.seed)
        net = TransformerNet(value_range=references.value("08", "transformer pixel range")).to(device)
        model = net
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel
            model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        name = args.name or Path(str(args.style)).stem
        args.out.mkdir(parents=True, exist_ok=True)
        checkpoint = args.out / f"{name}.checkpoint.pt"
        if rank == 0:
            print(f"training {name!r}: {world} process(es) on {device}, {len(photos)} photos, {args.steps} steps of "
                  f"{args.batch_size}×{args.crop}px per process; checkpoint {checkpoint}", flush=True)
        result = fast_style.train_transformer(
            model, loss, photos, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            checkpoint=checkpoint, checkpoint_every=args.checkpoint_every, resume=not args.no_resume,
            progress=not args.quiet)
        final = args.out / f"{name}.pth"
        if rank == 0 and not result.interrupted and result.steps_done >= args.steps:
            torch.save({"model": {k: v.cpu() for k, v in result.net.state_dict().items()},
                        "value_range": result.net.value_range, "style": str(args.style),
                        "steps": result.steps_done}, final)
            print(f"done: {result.steps_done} steps in {result.seconds:.1f} s → {final}", flush=True)
        if args.summary:
            params = torch.cat([p.detach().flatten().cpu().double() for p in result.net.parameters()])
            history = result.history.get("total", [])
            summary = {"rank": rank, "world_size": world, "steps_done": result.steps_done,
                       "resumed_from": result.resumed_from, "interrupted": result.interrupted,
                       "param_sum": float(params.sum()), "param_abs_sum": float(params.abs().sum()),
                       "first_loss": history[0] if history else None, "last_loss": history[-1] if history else None,
                       "checkpoint": str(checkpoint), "model": str(final) if rank == 0 and final.exists() else None}
            Path(args.summary.replace("{rank}", str(rank))).write_text(json.dumps(summary, indent=1))
        return 1 if result.interrupted else 0
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
