"""``make check-weights``: does trained behaviour hold with the pretrained ImageNet weights?

Run it once on a machine whose torch hub cache holds the weights
(``python -m helpers download weights`` fills it)::

    python -m instructor.check_weights                     # every topic, imagenet weights
    python -m instructor.check_weights --topics 02 07      # some topics
    python -m instructor.check_weights --weights random    # the same code with seeded random weights

For each topic it runs the notebook's core algorithm, with the graded functions of the
solution notebook (:func:`instructor.answers.solution_namespace`) and the kit's machinery,
at a small size, and measures one or two things a trained network must show. Each check
states its threshold and where the threshold comes from. The report is
``<out>/index.html`` with the pictures as PNG files beside it and a table
(check, threshold, measured value, pass/fail, source).

With ``--weights random`` the thresholds do not apply (they describe trained networks):
the run only shows that the command works, and says so at the top of the report.

Exit status: 0 when every check passed (imagenet) or every check ran (random); 1 when a
check failed (imagenet) or a topic raised an error; 2 when weights are missing or the
options are wrong.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import html
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from helpers import images, models, references
from helpers import weights as weight_files
from helpers.errors import CorruptWeightsError, WeightsUnavailableError
from instructor.course import repo_root

REPO = repo_root()
DEFAULT_OUT = REPO / "build" / "check-weights"
SEED = 0

# Architectures each topic loads (what must be in the cache for ``--weights imagenet``).
ARCHITECTURES = {"02": ("squeezenet1_1",), "03": ("squeezenet1_1",), "04": ("vgg16",), "05": ("googlenet",),
                 "06": ("vgg19",), "07": ("vgg19",), "08": ("vgg16",)}
# Image side in pixels per topic unless ``--size`` is given: small enough for a CPU.
DEFAULT_SIZES = {"02": 128, "03": 128, "04": 96, "05": 128, "06": 96, "07": 96, "08": 96}
TITLES = {"02": "02 gradient ascent: class visualisation", "03": "03 adversarial examples",
          "04": "04 feature inversion", "05": "05 DeepDream", "06": "06 texture synthesis",
          "07": "07 neural style transfer", "08": "08 fast feed-forward style transfer"}
NOTEBOOKS = {"02": "02_gradient_ascent", "03": "03_adversarial", "04": "04_feature_inversion",
             "05": "05_deepdream", "06": "06_texture_synthesis", "07": "07_style_transfer",
             "08": "08_fast_style_transfer"}
GATYS_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]    # 07's style layers
TEXTURE_LAYERS = ["conv1_1", "pool1", "pool2", "pool3", "pool4"]           # 06's texture layers


# --------------------------------------------------------------------------- results

@dataclass
class Check:
    """One row of the table.

    Attributes:
        name: what is checked, e.g. ``"p(target) after class visualisation"``.
        threshold: the condition a trained network meets, as text (``"> 0.9"``).
        measured: the measured value, as text.
        passed: whether ``measured`` meets ``threshold``.
        source: the paper or code the threshold comes from.
    """

    name: str
    threshold: str
    measured: str
    passed: bool
    source: str


@dataclass
class TopicReport:
    """What one topic's check produced: rows, pictures (file name, caption), notes, errors."""

    topic: str
    checks: list[Check] = field(default_factory=list)
    pictures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    size: int = 0


@dataclass
class Run:
    """Settings shared by every topic: ``weights`` (``"imagenet"``/``"random"``), ``device``,
    ``out`` (report folder) and ``size`` (image side in pixels, ``None`` for each topic's default)."""

    weights: str
    device: torch.device
    out: Path
    size: int | None = None

    @property
    def random(self) -> bool:
        return self.weights == "random"

    def side(self, topic: str) -> int:
        """Image side in pixels for ``topic``."""
        return int(self.size or DEFAULT_SIZES[topic])

    def classifier(self, arch: str) -> models.ImageModel:
        """A frozen classifier ``[B,3,H,W]`` in [0,1] → logits ``[B,1000]`` on the run's device."""
        model = models.load_model(arch, self.weights, seed=SEED, device=self.device, download=False)
        if model.random_weights != self.random:
            raise RuntimeError(f"{arch} loaded with {model.weights_label}, but --weights {self.weights} was asked for "
                               "(is NBGRADER_EXECUTION set? grading mode always uses random weights)")
        return model

    def photo(self, name: str, side: int) -> torch.Tensor:
        """A bundled image, shorter side resized to ``side`` px and centre-cropped: ``[1,3,side,side]``."""
        return images.center_crop(images.load_image(name, size=side, resize="shortest"), side).to(self.device)

    def figure(self, report: TopicReport, fig, name: str, caption: str) -> None:
        """Save a matplotlib figure as ``<out>/<topic>-<name>.png`` and list it in the report."""
        import matplotlib.pyplot as plt

        from helpers import display

        file = f"{report.topic}-{name}.png"
        display.save_figure(fig, self.out / file, dpi=90)
        plt.close(fig)
        report.pictures.append((file, caption))

    def grid(self, report: TopicReport, pictures, titles, name: str, caption: str, ncols=None) -> None:
        """:func:`helpers.display.show_grid` of ``pictures`` (``[3,H,W]`` or ``[1,3,H,W]`` each), saved."""
        from helpers import display

        cpu = [p.detach().float().cpu() for p in pictures]
        fig = display.show_grid(cpu, titles=titles, ncols=ncols, random_weights=self.random,
                                figsize=(2.6 * min(len(cpu), ncols or 4),
                                         2.9 * math.ceil(len(cpu) / (ncols or 4)) + 0.3))
        self.figure(report, fig, name, caption)


def solution(topic: str) -> dict:
    """The solution notebook's graded functions for ``topic`` (``"03"``) as ``{name: object}``."""
    from instructor.answers import solution_namespace

    return solution_namespace(NOTEBOOKS[topic])


# --------------------------------------------------------------------------- 02

def _normalised_step(step_fn: Callable, model, target: int, l2_reg: float, pixel_step: float, center):
    """``image [1,3,H,W] → image``: the graded ``class_visualization_step`` rescaled so the image
    moves by ``pixel_step`` (RMS over all values, [0, 1] pixels), CS231n's ``lr · g/‖g‖``."""
    def step(image: torch.Tensor) -> torch.Tensor:
        unit = step_fn(model, image, target, l2_reg, 1.0, center)
        moved = float((unit - image).pow(2).mean().sqrt())
        return unit if moved == 0 else image + (pixel_step / moved) * (unit - image)
    return step


def _stretch(image: torch.Tensor, clip: float = 0.005) -> torch.Tensor:
    """Map an image's 0.5 % and 99.5 % quantiles to 0 and 1 (display only), ``[3,H,W]`` → ``[3,H,W]``."""
    lo, hi = torch.quantile(image.flatten().float(), torch.tensor([clip, 1 - clip], device=image.device))
    return ((image - lo) / (hi - lo).clamp_min(1e-8)).clamp(0, 1)


def check_02(run: Run, report: TopicReport) -> None:
    """Class visualisation on SqueezeNet 1.1 (as notebook 02's gallery): p(target) > 0.9 for two classes."""
    from helpers import optim
    from helpers import transforms as T

    step_fn = solution("02")["class_visualization_step"]
    model = run.classifier("squeezenet1_1")
    vis_model = copy.deepcopy(model)
    vis_model.net.classifier[2] = torch.nn.Identity()   # ascend the class score before SqueezeNet's final ReLU
    side, steps = run.side("02"), references.value("02", "steps (CS231n)")
    ref = lambda name: references.value("02", name)
    center = torch.tensor(T.NEUTRAL, device=run.device)
    pictures, probs = [], {}
    for i, name in enumerate(["flamingo", "lemon"]):
        target = models.class_index(name, model.categories)
        start = T.mean_start((1, 3, side, side), generator=torch.Generator().manual_seed(SEED + i), device=run.device)
        result = optim.gradient_ascent_loop(
            _normalised_step(step_fn, vis_model, target, ref("l2_reg λ"), ref("pixel step (RMS per step)"), center),
            start, steps, transforms=[T.Jitter(max(1, round(ref("jitter (px at 224)") * side / 224)),
                                               generator=torch.Generator().manual_seed(SEED + i))],
            post_step=T.YOSINSKI_PRESETS["smooth_blur"].post_step(neutral=T.NEUTRAL, image_size=side),
            score_fn=lambda im, t=target: vis_model(im)[0, t], progress=False)
        with torch.no_grad():
            probs[name] = model(result.image).softmax(dim=1)[0, target].item()
        pictures.append(result.image[0])
    worst = min(probs, key=probs.get)
    report.checks.append(Check(
        "p(target) after class visualisation (lowest of flamingo, lemon)", "> 0.9",
        f"{probs[worst]:.3f} ({worst}); " + ", ".join(f"{k} {v:.3f}" for k, v in probs.items()),
        probs[worst] > 0.9,
        "Simonyan, Vedaldi & Zisserman 2014, §2 (class model visualisation); CS231n assignment 3, "
        "create_class_visualization (SqueezeNet 1.1, 100 steps); 0.9 is the kit's criterion (DESIGN.md) "
        "for a class visualisation the network recognises"))
    report.notes.append(f"SqueezeNet 1.1 ({model.weights_label}), {side}×{side} px, {steps} steps, CS231n step and "
                        "λ (helpers.references), Yosinski et al.'s smooth_blur regularisers, from the mean colour.")
    stretched = [_stretch(p) for p in pictures]
    run.grid(report, pictures + stretched, [f"{k}: p = {v:.3f}" for k, v in probs.items()] + ["contrast-stretched"] * 2,
             "class-visualisation", "class visualisations: as optimised (top), contrast-stretched (bottom)", ncols=2)


# --------------------------------------------------------------------------- 03

def check_03(run: Run, report: TopicReport) -> None:
    """FGSM at ε = 8/255 on the bundled photos and notebook 03's targeted attacks on SqueezeNet 1.1."""
    ns = solution("03")
    fgsm, targeted_attack = ns["fgsm"], ns["targeted_attack"]
    model = run.classifier("squeezenet1_1")
    side = run.side("03")
    names = images.samples(kind="content")
    photos = torch.cat([run.photo(n, side) for n in names])
    with torch.no_grad():
        clean = model(photos).argmax(dim=1)
    adv = fgsm(model, photos, clean, 8 / 255)
    with torch.no_grad():
        after = model(adv).argmax(dim=1)
    changed = int((after != clean).sum())
    report.checks.append(Check(
        f"FGSM at ε = 8/255 changes the top-1 of the {len(names)} bundled photos", "more than half (most)",
        f"{changed} of {len(names)}", changed > len(names) / 2,
        "Goodfellow, Shlens & Szegedy 2015 (arXiv:1412.6572), §4 (FGSM); Kurakin, Goodfellow & Bengio 2017 "
        "(arXiv:1607.02533), §3, Fig. 2 (accuracy of an ImageNet network under the fast method for ε up to 16 "
        "grey levels); 'most' (more than half) at ε = 8 is this check's reading"))
    cats = model.categories
    run.grid(report, list(photos) + list(adv),
             [f"{n}: {cats[c]}" for n, c in zip(names, clean.tolist())]
             + [f"FGSM: {cats[c]}" for c in after.tolist()], "fgsm",
             "top row: bundled photos and their top-1; bottom row: FGSM at ε = 8/255 and the new top-1")

    pairs = {"chelsea": "koala", "rocket": "iPod"}       # notebook 03's fooling pairs
    eps, step, steps = 4 / 255, 0.5 / 255, 40            # notebook 03's fooling ε and step; its gpu profile's steps
    originals = torch.cat([run.photo(n, side) for n in pairs])
    targets = torch.tensor([models.class_index(t, cats) for t in pairs.values()], device=run.device)
    fooled = targeted_attack(model, originals, targets, eps, step, steps)
    with torch.no_grad():
        reached = model(fooled).argmax(dim=1)
        p_target = model(fooled).softmax(dim=1).gather(1, targets[:, None])[:, 0]
    hits = int((reached == targets).sum())
    report.checks.append(Check(
        "targeted attack (ε = 4/255, 40 steps of 0.5/255) reaches its target: chelsea → koala, rocket → iPod",
        "top-1 = target for both", f"{hits} of {len(pairs)} (p(target) " +
        ", ".join(f"{p:.2f}" for p in p_target.tolist()) + ")", hits == len(pairs),
        "Kurakin, Goodfellow & Bengio 2017 (arXiv:1607.02533), §2.2 (iterative least-likely class method, "
        "stronger than one step); ε, step and pairs are notebook 03's fooling settings"))
    run.grid(report, list(originals) + list(fooled) + [(0.5 + 10 * (fooled - originals)).clamp(0, 1)[i]
                                                         for i in range(len(pairs))],
             list(pairs) + [f"→ {cats[r]} ({p:.2f})" for r, p in zip(reached.tolist(), p_target.tolist())]
             + ["10× difference"] * len(pairs), "targeted",
             "targeted attacks: originals, adversarial images with their top-1, 10× difference (grey = 0)", ncols=2)
    report.notes.append(f"SqueezeNet 1.1 ({model.weights_label}), {side}×{side} px; FGSM labels are the clean "
                        "top-1 predictions; the targeted attack is the graded targeted_attack (iterative, projected).")


# --------------------------------------------------------------------------- 04

def check_04(run: Run, report: TopicReport) -> None:
    """Invert VGG-16 relu2_2 of a photo as notebook 04 does, with the weakest regulariser of
    Mahendran & Vedaldi's grid; the relative feature error must be small."""
    from helpers import inversion

    ns = solution("04")
    inversion_loss, tv_beta = ns["inversion_loss"], ns["tv_beta"]
    vgg = run.classifier("vgg16")
    extractor = models.FeatureExtractor(vgg, ["relu2_2"]).to(run.device)
    side, steps = run.side("04"), 150
    strength = min(references.value("04", "λ strength grid"))    # 1/C for nnpreimage's C = 300
    photo = run.photo("chelsea", side)
    features = lambda x: extractor(x)["relu2_2"]
    with torch.no_grad():
        target = features(photo)
    result = inversion.invert(
        features, target, inversion.noise_image(photo.shape, seed=SEED, device=run.device),
        loss_fn=inversion_loss, regularizer_fn=tv_beta, beta=2.0, lam=inversion.tv_weight(side, side, 2.0, strength),
        steps=steps, optimizer="adam", jitter=inversion.jitter_for_stride(side // target.shape[-1]),
        seed=SEED, progress=False)
    with torch.no_grad():
        error = inversion_loss(features(result.image), target).item()
    report.checks.append(Check(
        "relu2_2 inversion: relative feature error ‖Φ(x) − Φ₀‖² / ‖Φ₀‖² (λ strength 1/300)", "< 0.1",
        f"{error:.4f}", error < 0.1,
        "Mahendran & Vedaldi 2015 (CVPR) §4 / 2016 (IJCV): the first layers keep photographically accurate "
        "information and are inverted almost exactly; 0.1 is this check's bound for 'small' on their normalised "
        "error (eq. 2), with their weakest regulariser (aravindhm/nnpreimage, C = 300)"))
    report.notes.append(f"VGG-16 ({vgg.weights_label}), chelsea at {side}×{side} px, Adam {steps} + {steps // 6} "
                        f"steps from noise, β = 2, λ strength {strength:.4g} (C = 300: notebook 04's grid, the weakest "
                        "regulariser; the notebook's default strength 1 trades feature error for smoothness, "
                        "so it tests the regulariser more than the network).")
    run.grid(report, [photo[0], result.image[0]], ["photo", f"from relu2_2: error {error:.4f}"], "inversion",
             "relu2_2 inversion")


# --------------------------------------------------------------------------- 05

def check_05(run: Run, report: TopicReport) -> None:
    """DeepDream on GoogLeNet inception4c with the original notebook's settings: the objective rises every octave."""
    from helpers import deepdream

    ns = solution("05")
    dream_objective, dream_step = ns["dream_objective"], ns["dream_step"]
    net = run.classifier("googlenet")
    extractor = models.FeatureExtractor(net, ["inception4c"]).to(run.device)
    feature_fn = lambda x: extractor(x)["inception4c"]
    side = run.side("05")
    photo = images.load_image("coffee", size=side).to(run.device)
    octaves, steps = 4, 10
    result = deepdream.dream(
        photo, lambda x: dream_step(feature_fn, x, 1.5 / 255), octaves=octaves, octave_scale=1.4,
        steps_per_octave=steps, jitter=32, score_fn=lambda x: dream_objective(feature_fn(x)),
        generator=torch.Generator().manual_seed(SEED), progress=False)
    rises = [s[-1] / s[0] for s in result.stage_history("score")]
    report.checks.append(Check(
        "dream objective ½Σa² at inception4c: last ÷ first step of each octave", "> 1 in every octave",
        ", ".join(f"{r:.4g}×" for r in rises), len(rises) == octaves and min(rises) > 1,
        "Mordvintsev, Olah & Tyka 2015, google/deepdream dream.ipynb (make_step, deepdream): normalised "
        "gradient ascent on the layer's ½‖a‖² at each of 4 octaves"))
    report.notes.append(f"GoogLeNet ({net.weights_label}), coffee at {side} px (longest side), {octaves} octaves "
                        f"× {steps} steps, scale 1.4, step 1.5/255, roll 32 px.")
    run.grid(report, [photo[0], result.image[0]], ["photo", "dream (inception4c)"], "dream", "DeepDream")


# --------------------------------------------------------------------------- 06 and 07

def normalised_vgg19(run: Run, layers: list[str]) -> models.FeatureExtractor:
    """Gatys's normalised VGG-19 (average pooling, filters at mean activation 1) with ``layers``."""
    return models.FeatureExtractor(run.classifier("vgg19"), layers, pooling="avg",
                                   normalize_filters=True).to(run.device)


def _grams(gram_matrix: Callable, feats: dict, layers: list[str]) -> list[torch.Tensor]:
    return [gram_matrix(feats[layer]) for layer in layers]


def check_06(run: Run, report: TopicReport) -> None:
    """Neural texture synthesis from noise on the normalised VGG-19 (as notebook 06): the Gram loss
    drops by orders of magnitude."""
    from helpers.optim import optimize_image

    ns = solution("06")
    gram_matrix, texture_loss = ns["gram_matrix"], ns["texture_loss"]
    extractor = normalised_vgg19(run, TEXTURE_LAYERS)
    side, steps = run.side("06"), 100
    texture = run.photo("ihc", side)
    with torch.no_grad():
        targets = _grams(gram_matrix, extractor(texture), TEXTURE_LAYERS)
    weights = [1 / len(TEXTURE_LAYERS)] * len(TEXTURE_LAYERS)

    def objective(x: torch.Tensor) -> torch.Tensor:
        feats = extractor(x)
        return texture_loss([feats[layer] for layer in TEXTURE_LAYERS], targets, weights)

    noise = torch.rand(texture.shape, generator=torch.Generator().manual_seed(SEED)).to(run.device)
    with torch.no_grad():
        start = objective(noise).item()
    result = optimize_image(objective, noise, steps=steps, progress=False)
    ratio = result.best_loss / start
    report.checks.append(Check(
        "texture (Gram) loss: best after synthesis ÷ at the noise start", "< 1e-2 (two orders of magnitude)",
        f"{ratio:.2e} ({start:.3g} → {result.best_loss:.3g})", ratio < 1e-2,
        "Gatys, Ecker & Bethge 2015 (NIPS), §2–3: L-BFGS from white noise matches the Gram matrices of "
        "conv1_1, pool1 … pool4 of the normalised VGG-19; 'orders of magnitude' read as at least two"))
    report.notes.append(f"normalised VGG-19 ({extractor.weights_label}), ihc at {side}×{side} px, {steps} L-BFGS "
                        "steps from uniform noise, layers conv1_1, pool1 … pool4 with equal weights (notebook 06).")
    run.grid(report, [texture[0], result.best_image[0]], ["texture: ihc", f"synthesised: loss ÷ {1 / ratio:.0f}"],
             "texture", "texture synthesis from noise")


def style_transfer_objective(run: Run, extractor, content: torch.Tensor, style: torch.Tensor) -> Callable:
    """``objective(x [1,3,H,W]) -> {"content", "style"}`` in the kit's units of Gatys's code:
    content = α·content_loss(F, P)·2/(C·H·W) at relu4_2, style = β·texture_loss(…, w_l = 4/N_l²) at relu1_1 … relu5_1
    (06's ``texture_loss``, which notebook 07 brings from 06)."""
    ns07, ns06 = solution("07"), solution("06")
    content_loss, gram_matrix = ns07["content_loss"], ns06["gram_matrix"]
    style_loss = ns06["texture_loss"]     # 07's style loss is 06's texture loss (EXERCISES.md 07)
    alpha, beta = references.GATYS_CONTENT_WEIGHT, references.GATYS_STYLE_NUMERATOR
    weights = references.gatys_layer_weights()     # 4/N_l² for N_l = 64, 128, 256, 512, 512
    with torch.no_grad():
        target = extractor(content)["relu4_2"]
        grams = _grams(gram_matrix, extractor(style), GATYS_LAYERS)

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = extractor(x)
        content_term = references.per_element_content(content_loss(f["relu4_2"], target), f["relu4_2"])
        return {"content": alpha * content_term,
                "style": beta * style_loss([f[layer] for layer in GATYS_LAYERS], grams, weights)}
    return objective


def _term_gradient_norms(objective: Callable, image: torch.Tensor) -> dict[str, float]:
    """L2 norm over the pixels of ∇_image of each weighted term of ``objective`` at ``image``."""
    x = image.detach().clone().requires_grad_(True)
    terms = objective(x)
    return {name: float(torch.autograd.grad(term, x, retain_graph=True)[0].norm()) for name, term in terms.items()}


def check_07(run: Run, report: TopicReport) -> None:
    """Gatys et al.'s style transfer with the authors' α, β on the normalised VGG-19: both terms move, both
    gradients count."""
    from helpers.optim import optimize_image

    extractor = normalised_vgg19(run, ["relu4_2"] + GATYS_LAYERS)
    side, steps = run.side("07"), 60
    content, style = run.photo("chelsea", side), run.photo("ihc", side)
    objective = style_transfer_objective(run, extractor, content, style)
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(SEED)).to(run.device)
    with torch.no_grad():
        at_content, at_noise = objective(content), objective(noise)
    result = optimize_image(objective, content.clone(), steps=steps, progress=False)
    with torch.no_grad():
        at_result = objective(result.best_image)
    style_ratio = float(at_result["style"] / at_content["style"])
    content_ratio = float(at_result["content"] / at_noise["content"])
    grads = _term_gradient_norms(objective, noise)
    balance = grads["style"] / grads["content"]
    code = "leongatys/PytorchNeuralStyleTransfer (α = 1 at relu4_2, β = 1e3 with 1/N_l² per layer)"
    report.checks += [
        Check("style loss at the result ÷ at the content image", "< 0.1", f"{style_ratio:.3g} "
              f"({float(at_content['style']):.3g} → {float(at_result['style']):.3g})", style_ratio < 0.1,
              f"Gatys, Ecker & Bethge 2016 (CVPR), §2–3, Fig. 3 (α/β = 1e-3): the result takes the style; {code}"),
        Check("content loss at the result ÷ at a noise image", "< 0.3", f"{content_ratio:.3g} "
              f"({float(at_result['content']):.3g} vs {float(at_noise['content']):.3g})", content_ratio < 0.3,
              f"Gatys, Ecker & Bethge 2016 (CVPR), Fig. 3 (α/β = 1e-3): the photo's layout stays recognisable; {code}"),
        Check("first-step gradient norms ‖∇ style term‖ ÷ ‖∇ content term‖ at a noise start image",
              "between 1e-2 and 1e2", f"{balance:.3g} (style {grads['style']:.3g}, content {grads['content']:.3g})",
              1e-2 <= balance <= 1e2,
              f"{code}: with the authors' weights on the normalised network neither term swamps the other"),
    ]
    report.notes.append(f"normalised VGG-19 ({extractor.weights_label}), content chelsea and style ihc at "
                        f"{side}×{side} px, {steps} L-BFGS steps from the content image (as the authors' code). "
                        "The gradients are measured at white noise (Gatys et al. 2016's start): at the content "
                        "image the content gradient is zero by construction.")
    run.grid(report, [content[0], style[0], result.best_image[0]], ["content: chelsea", "style: ihc", "result"],
             "style-transfer", "style transfer (α = 1, β = 1e3)")


# --------------------------------------------------------------------------- 08

def check_08(run: Run, report: TopicReport) -> None:
    """Train notebook 08's transformation network briefly (the reference's units and weights);
    the held-out photo must come out stylised."""
    from helpers import fast_style
    from helpers.transformer_net import TransformerNet

    ns = solution("08")
    ref = lambda name: references.value("08", name)
    style_layers = list(ref("style layers"))
    extractor = models.FeatureExtractor(run.classifier("vgg16"), style_layers).to(run.device)
    side, crop, batch, steps, held_out = run.side("08"), 64, 2, 40, "chelsea"    # notebook 08 holds chelsea out
    style = run.photo("ihc", 2 * crop)
    perceptual = fast_style.PerceptualLoss(
        extractor, style, gram_fn=ns["normalized_gram"], content_fn=ns["feature_reconstruction_loss"],
        style_fn=ns["style_reconstruction_loss"], content_weight=ref("content weight λ_c"),
        style_weight=ref("style weight λ_s"), layer_weights=ref("style layer weights w_j"),
        content_layer=ref("content layer"), style_layers=style_layers)
    training_names = [n for n in images.samples(kind="content") if n != held_out]
    torch.manual_seed(SEED)
    net = TransformerNet(value_range=ref("transformer pixel range")).to(run.device)
    photo = run.photo(held_out, side)
    before = net.stylize(photo)
    training = fast_style.train_transformer(net, perceptual, fast_style.PhotoStream(training_names, crop),
                                            steps=steps, batch_size=batch, lr=ref("learning rate (Adam)"),
                                            seed=SEED, progress=False)
    stylised = training.net.stylize(photo)
    difference = float((stylised - photo).abs().mean())
    with torch.no_grad():
        loss = perceptual.for_image(photo)
        loss_before, loss_after = (float(sum(loss(x).values())) for x in (before, stylised))
    report.checks += [
        Check(f"held-out photo ({held_out}): mean |stylised − photo| in [0, 1] pixels", "> 0.05 (13 grey levels)",
              f"{difference:.3f}", difference > 0.05,
              "Johnson, Alahi & Fei-Fei 2016, §4.2 and Fig. 6: the trained network restyles photos it never saw; "
              "0.05 is this check's bound for 'differs'"),
        Check(f"held-out photo ({held_out}): perceptual loss of the network's output after ÷ before training",
              "< 0.5", f"{loss_after / loss_before:.3g} ({loss_before:.3g} → {loss_after:.3g})",
              loss_after < 0.5 * loss_before,
              "Johnson, Alahi & Fei-Fei 2016, eqs. 2–4 (content + style reconstruction loss) with the reference's "
              "λ_c = 1e5, λ_s = 1e10, w_j = 1/C_j² (pytorch/examples fast_neural_style); training must lower the "
              "loss on a photo it never saw; 0.5 is this check's bound"),
    ]
    first, last = training.history["total"][0], training.history["total"][-1]
    report.notes.append(f"VGG-16 loss network ({extractor.weights_label}); TransformerNet in 0–255 units trained "
                        f"{steps} Adam steps on batches of {batch} random {crop}-px crops of "
                        f"{', '.join(training_names)}; perceptual loss {first:.3g} → {last:.3g}; {held_out} held out, "
                        f"stylised at {side}×{side} px.")
    report.notes.append("The first row alone would also pass for an untrained network (its first output is almost "
                        "black); the second row is the one that needs training to work on an unseen photo.")
    run.grid(report, [style[0], photo[0], before[0], stylised[0]],
             ["style: ihc", "held-out photo", "before training", f"after {steps} steps"], "stylised",
             "feed-forward stylisation of a held-out photo, before and after training")


TOPICS: dict[str, Callable[[Run, TopicReport], None]] = {
    "02": check_02, "03": check_03, "04": check_04, "05": check_05, "06": check_06, "07": check_07, "08": check_08}


# --------------------------------------------------------------------------- running

def missing_weights(topics: list[str]) -> list[tuple[str, Path]]:
    """``(enum name, expected path)`` of every ImageNet weight file the topics need that is not cached."""
    archs = sorted({arch for t in topics for arch in ARCHITECTURES[t]})
    enums = [weight_files.resolve(arch, "imagenet") for arch in archs]
    return [(str(e), weight_files.cached_path(e)) for e in enums if not weight_files.cached_path(e).is_file()]


def missing_weights_message(missing: list[tuple[str, Path]]) -> str:
    """One error message naming the missing files, the cache folder and the prefetch command."""
    archs = " ".join(sorted({name.split("_Weights")[0].lower() for name, _ in missing}))
    files = "\n".join(f"  {name}: {path}" for name, path in missing)
    return ("error: the pretrained ImageNet weights are not in the torch hub cache "
            f"({weight_files.checkpoints_dir()}):\n"
            f"{files}\n"
            f"Fix: on a machine with network run `{weight_files.PREFETCH_COMMAND}` "
            f"(or `{weight_files.PREFETCH_COMMAND} "
            f"{archs}`), or copy those files there; then run `make check-weights` again.\n"
            "To try the command without them: make check-weights WEIGHTS=random (proves only that it runs).")


def run_topic(run: Run, topic: str) -> TopicReport:
    """Run one topic's check; an exception becomes ``report.error`` (printed with its traceback)."""
    report = TopicReport(topic, size=run.side(topic))
    torch.manual_seed(SEED)
    start = time.perf_counter()
    try:
        TOPICS[topic](run, report)
    except (WeightsUnavailableError, CorruptWeightsError):
        raise
    except Exception as exc:  # noqa: BLE001 - one topic's failure must not hide the others
        report.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    report.seconds = time.perf_counter() - start
    return report


def exit_status(reports: list[TopicReport], random: bool) -> int:
    """0 when every check ran (random) or passed (imagenet); 1 otherwise."""
    if any(r.error for r in reports):
        return 1
    if random:
        return 0
    return 0 if all(c.passed for r in reports for c in r.checks) else 1


# --------------------------------------------------------------------------- report

RANDOM_BANNER = ("RANDOM WEIGHTS: this report proves only that the command works. The thresholds describe "
                 "trained ImageNet networks; with seeded random weights failing them is expected and not an "
                 "error. Run `make check-weights` with the pretrained weights in the cache to check the kit.")

_CSS = """body{font-family:sans-serif;max-width:1150px;margin:1em auto;padding:0 1em;color:#222}
.banner{background:#b00020;color:#fff;font-size:1.25em;font-weight:bold;padding:.8em 1em;border-radius:6px}
.ok{background:#1b5e20;color:#fff;padding:.6em 1em;border-radius:6px}
.bad{background:#b00020;color:#fff;padding:.6em 1em;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.9em}\
td,th{border:1px solid #ccc;padding:.35em .5em;vertical-align:top}
th{background:#eee;text-align:left}td.pass{background:#c8e6c9;font-weight:bold}td.fail{background:#ffcdd2;font-weight:bold}
td.error{background:#ffab91;font-weight:bold}td.na{background:#e0e0e0;color:#444}figure{display:inline-block;margin:.5em}img{max-width:100%}
.meta{color:#555;font-size:.9em}"""


def _result_cell(passed: bool, random: bool) -> str:
    """A ``<td>``: green pass / red fail with trained weights; grey with random weights, where neither counts."""
    if random:
        return f'<td class="na">{"pass (not evidence)" if passed else "fail (expected)"}</td>'
    return '<td class="pass">pass</td>' if passed else '<td class="fail">FAIL</td>'


def table_rows(reports: list[TopicReport], random: bool) -> str:
    """The ``<tr>`` rows of the check table (an errored topic gets one error row)."""
    rows = []
    for r in reports:
        for c in r.checks:
            rows.append(f"<tr><td>{r.topic}</td><td>{html.escape(c.name)}</td><td>{html.escape(c.threshold)}</td>"
                        f"<td>{html.escape(c.measured)}</td>{_result_cell(c.passed, random)}"
                        f"<td>{html.escape(c.source)}</td></tr>")
        if r.error:
            rows.append(f'<tr><td>{r.topic}</td><td>{html.escape(TITLES[r.topic])}</td><td>—</td>'
                        f'<td>{html.escape(r.error)}</td><td class="error">error</td><td>—</td></tr>')
    return "\n".join(rows)


def render_html(run: Run, reports: list[TopicReport], seconds: float) -> str:
    """The whole report page: banner, settings, table, then per topic its notes and pictures."""
    status = exit_status(reports, run.random)
    top = f'<p class="banner">{html.escape(RANDOM_BANNER)}</p>' if run.random else (
        '<p class="ok">Every check passed with the pretrained ImageNet weights.</p>' if status == 0 else
        '<p class="bad">Some checks FAILED with the pretrained ImageNet weights: please report this table.</p>')
    meta = (f"weights: <b>{html.escape(run.weights)}</b> · device: {html.escape(str(run.device))} · "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · torch {torch.__version__} · "
            f"Python {platform.python_version()} · {platform.platform()} · total {seconds:.0f} s")
    sections = []
    for r in reports:
        notes = "".join(f"<p class='meta'>{html.escape(n)}</p>" for n in r.notes)
        if r.error:
            notes += f"<p class='bad'>error: {html.escape(r.error)}</p>"
        figs = "".join(f'<figure><img src="{html.escape(f)}" alt="{html.escape(cap)}">'
                       f"<figcaption>{html.escape(cap)}</figcaption></figure>" for f, cap in r.pictures)
        sections.append(f"<h2>{html.escape(TITLES[r.topic])}</h2><p class='meta'>{r.size} px · {r.seconds:.1f} s</p>"
                        f"{notes}{figs}")
    title = "check-weights" + (" — RANDOM WEIGHTS (command test only)" if run.random else "")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{top}<h1>{html.escape(title)}</h1><p class='meta'>{meta}</p>"
            "<table><tr><th>topic</th><th>check</th><th>threshold</th><th>measured</th><th>result</th>"
            f"<th>source of the threshold</th></tr>{table_rows(reports, run.random)}</table>"
            f"{''.join(sections)}</body></html>")


def print_table(reports: list[TopicReport], random: bool) -> None:
    """The table on stdout, one line per check."""
    if random:
        print("=" * 100 + f"\n{RANDOM_BANNER}\n" + "=" * 100)
    for r in reports:
        for c in r.checks:
            verdict = ("pass (not evidence)" if c.passed else "fail (expected)") if random else (
                "pass" if c.passed else "FAIL")
            print(f"{r.topic}  {verdict:<31} {c.name}\n      threshold {c.threshold}; measured {c.measured}")
        if r.error:
            print(f"{r.topic}  ERROR  {r.error}")
        print(f"{r.topic}  ({r.seconds:.1f} s)")


# --------------------------------------------------------------------------- command line

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m instructor check-weights",
        description="Run each topic's core algorithm with the pretrained weights at a small size and check what "
                    "a trained network must show; writes OUT/index.html.")
    parser.add_argument("--topics", nargs="+", default=list(TOPICS), metavar="NN",
                        help=f"topics to check (default: all of {' '.join(TOPICS)})")
    parser.add_argument("--weights", choices=("imagenet", "random"), default="imagenet",
                        help="imagenet (the check) or random (seeded; proves only that the command works)")
    parser.add_argument("--size", type=int, default=None,
                        help="image side in pixels for every topic (default: per topic, "
                             + ", ".join(f"{t}: {s}" for t, s in DEFAULT_SIZES.items()) + ")")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.topics if t not in TOPICS]
    if unknown:
        parser.error(f"unknown topic(s) {', '.join(unknown)}; choose from {' '.join(TOPICS)}")
    if args.size is not None and args.size < 64:
        parser.error("--size must be at least 64 pixels (DeepDream's smallest octave is size/2.7)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.weights == "imagenet":
        missing = missing_weights(args.topics)
        if missing:
            print(missing_weights_message(missing), file=sys.stderr)
            return 2
    from helpers.devices import pick_device

    run = Run(args.weights, pick_device(args.device), args.out, args.size)
    with _environment({models.REQUIRE_WEIGHTS_ENV: "1" if args.weights == "imagenet" else None}):
        return run_checks(run, args.topics)


@contextlib.contextmanager
def _environment(values: dict[str, str | None]):
    """Set (or, for ``None``, leave alone) environment variables for the duration of the block."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is not None:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_checks(run: Run, topics: list[str]) -> int:
    """Run ``topics``, write ``run.out/index.html`` and print the table; returns the exit status."""
    run.out.mkdir(parents=True, exist_ok=True)
    for old in (png for t in TOPICS for png in run.out.glob(f"{t}-*.png")):
        old.unlink()   # pictures of an earlier run, so the folder holds only this run's
    start = time.perf_counter()
    reports = []
    try:
        for topic in topics:
            print(f"== {TITLES[topic]} ({run.weights} weights, {run.side(topic)} px)", flush=True)
            reports.append(run_topic(run, topic))
    except (WeightsUnavailableError, CorruptWeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    (run.out / "index.html").write_text(render_html(run, reports, seconds), encoding="utf-8")
    print_table(reports, run.random)
    status = exit_status(reports, run.random)
    print(f"report: {run.out / 'index.html'} ({seconds:.0f} s); exit status {status}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
