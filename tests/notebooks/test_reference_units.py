"""Every default that names a reference equals that reference up to the stated constant.

Each test re-implements the reference's objective or step from its published definition
(repository and file cited next to it) and compares it with the kit's, on random features
or images of two different sizes. The values compared are those of ``helpers.references``,
the table the notebooks print.
"""
from __future__ import annotations

import pytest
import torch

from helpers import references


def test_every_default_names_its_reference_and_conversion():
    for d in references.DEFAULTS:
        assert d.topic in {"02", "03", "04", "05", "06", "07", "08"}, d
        assert d.reference and d.reference_value and d.conversion, d


# ---------------------------------------------------------------- 02 gradient ascent (tests go here)
# CS231n assignment 3 (NetworkVisualization, create_class_visualization): the image z lives in
# ImageNet-normalised units z = (x − μ)/σ; each step is z ← z + lr·g/‖g‖ with
# g = ∇_z(score − l2_reg·‖z‖²), lr = 25, l2_reg = 1e-3, on 224×224 images.


def _seeded_scorer(seed: int) -> torch.nn.Module:
    """A small fixed network [B,3,H,W] -> scores [B,5] standing for a classifier (float64)."""
    g = torch.Generator().manual_seed(seed)
    conv = torch.nn.Conv2d(3, 8, 3, padding=1).double()
    fc = torch.nn.Linear(8, 5).double()
    with torch.no_grad():
        for p in (*conv.parameters(), *fc.parameters()):
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return torch.nn.Sequential(conv, torch.nn.Tanh(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), fc).eval()


def _cs231n_step(score_of_pixels, x, target, std, l2_reg, learning_rate):
    """CS231n's class-visualisation step, in its own normalised units, mapped back to pixels."""
    mean = torch.tensor(references.IMAGENET_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    z = ((x - mean) / std).requires_grad_(True)
    objective = score_of_pixels(mean + std * z)[0, target] - l2_reg * (z * z).sum()
    (g,) = torch.autograd.grad(objective, z)
    z_new = z.detach() + learning_rate * g / g.norm()
    return mean + std * z_new


def _kit_step(step_fn, score_of_pixels, x, target, l2_reg, pixel_step):
    """The notebook's NormalisedStep: the graded step at learning rate 1, rescaled to an RMS of pixel_step."""
    centre = torch.tensor(references.IMAGENET_MEAN, dtype=x.dtype)
    unit = step_fn(score_of_pixels, x, target, l2_reg, 1.0, center=centre)
    move = unit - x
    return x + pixel_step / move.pow(2).mean().sqrt() * move


@pytest.fixture(scope="module")
def answers02():
    from solution_code import solution_namespace
    return solution_namespace("02_gradient_ascent")


@pytest.mark.parametrize("size", [24, 40])
def test_02_cs231n_step_equals_the_kit_step_with_the_converted_lambda_and_rate(answers02, size):
    step = answers02["class_visualization_step"]
    net = _seeded_scorer(size)
    g = torch.Generator().manual_seed(100 + size)
    x = (torch.tensor(references.IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
         + 0.2 * torch.randn(1, 3, size, size, generator=g, dtype=torch.float64)).clamp(0, 1)
    lam, pixel_step = references.value("02", "l2_reg λ"), references.value("02", "pixel step (RMS per step)")
    # The reference with one std σ̄ for all three channels: exact up to the image-size factor
    # √(H·W)/224 (CS231n fixes the step's L2 norm at 224×224; the kit fixes it per value).
    sigma_bar = references.IMAGENET_STD_EFFECTIVE
    ref = _cs231n_step(net, x, 2, [sigma_bar] * 3, references.CS231N_L2_REG, references.CS231N_LEARNING_RATE)
    kit = _kit_step(step, net, x, 2, lam, pixel_step)
    factor = size / references.CS231N_IMAGE_SIZE
    assert torch.allclose(kit - x, factor * (ref - x), rtol=1e-9, atol=1e-12)
    # The test can fail: an unconverted λ (the reference's 1e-3) moves the step off the reference's.
    wrong = _kit_step(step, net, x, 2, references.CS231N_L2_REG, pixel_step)
    assert not torch.allclose(wrong - x, factor * (ref - x), rtol=1e-3, atol=1e-6)
    # With torchvision's three stds the reference reweights channel c by σ_c²/σ̄² (0.974–1.027):
    # the two steps agree to within that spread.
    ref_true = _cs231n_step(net, x, 2, references.IMAGENET_STD, references.CS231N_L2_REG,
                            references.CS231N_LEARNING_RATE)
    rel = ((kit - x) - factor * (ref_true - x)).norm() / (factor * (ref_true - x)).norm()
    spread = max(abs(s ** 2 / sigma_bar ** 2 - 1) for s in references.IMAGENET_STD)
    assert rel <= spread + 1e-9, (float(rel), spread)


def test_02_l2_term_in_pixels_equals_cs231n_normalised_term():
    # Σ_c λ_n‖x_c − μ_c‖²/σ_c² equals λ_kit‖x − μ‖² for grey deviations, and lies between the
    # per-channel bounds otherwise (two image sizes).
    lam = references.value("02", "l2_reg λ")
    mean = torch.tensor(references.IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(references.IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    for size in (16, 33):
        g = torch.Generator().manual_seed(size)
        grey = torch.randn(1, 1, size, size, generator=g, dtype=torch.float64).expand(1, 3, size, size)
        x = mean + 0.1 * grey
        cs231n = references.CS231N_L2_REG * (((x - mean) / std) ** 2).sum()
        kit = lam * ((x - mean) ** 2).sum()
        assert torch.allclose(kit, cs231n, rtol=1e-12)
        y = mean + 0.1 * torch.randn(1, 3, size, size, generator=g, dtype=torch.float64)
        ratio = float(lam * ((y - mean) ** 2).sum() / (references.CS231N_L2_REG * (((y - mean) / std) ** 2).sum()))
        bounds = [lam * s ** 2 / references.CS231N_L2_REG for s in references.IMAGENET_STD]
        assert min(bounds) <= ratio <= max(bounds)
    assert abs(lam - 0.019584) < 1e-6 and abs(references.value("02", "pixel step (RMS per step)") - 0.014561) < 1e-6


def test_02_yosinski_blur_scales_with_image_size_and_the_start_is_the_mean_plus_small_noise():
    from helpers import transforms as T

    preset = T.YOSINSKI_PRESETS["smooth_blur"]
    assert preset.blur_sigma == references.value("02", "blur σ (smooth_blur, px at 227)")
    assert preset.blur_every == references.value("02", "blur every (Yosinski)")
    assert preset.decay == references.value("02", "L2 decay θ (smooth_blur)")
    assert preset.iterations == references.value("02", "steps (Yosinski smooth_blur)")
    for size in (64, 224):
        blur = [t for t in preset.post_step(image_size=size) if isinstance(t, T.GaussianBlur)][0]
        assert blur.sigma == pytest.approx(1.0 * size / 227, rel=1e-12)
    # A blur of σ·s/227 on an image resized by s/227 does to it what σ does at 227 px: the
    # variance of a blurred impulse scales with the square of the size.
    for size in (227, 454):
        impulse = torch.zeros(1, 3, size, size, dtype=torch.float64)
        impulse[..., size // 2, size // 2] = 1.0
        out = preset.post_step(image_size=size)[1](impulse, step=0)[0, 0]
        r = torch.arange(size, dtype=torch.float64) - size // 2
        var = float((out.sum(0) * r ** 2).sum())
        assert var == pytest.approx((size / 227) ** 2, rel=0.01)
    start = T.mean_start((1, 3, 96, 80), generator=torch.Generator().manual_seed(0))
    noise = references.value("02", "start noise σ (Yosinski)")
    assert T.START_NOISE == noise
    assert noise == pytest.approx(10 / 255)
    assert torch.allclose(start.mean((0, 2, 3)), torch.tensor(T.NEUTRAL), atol=3e-3)
    assert float((start - torch.tensor(T.NEUTRAL).view(1, 3, 1, 1)).std()) == pytest.approx(noise, rel=0.03)
    assert references.value("02", "regulariser centre") == T.NEUTRAL


def test_02_yosinski_learning_rate_on_caffe_input_is_divided_by_255_squared():
    # optimize_image.py, constant policy: x_caffe ← x_caffe + lr·∇ on 0–255 BGR minus the mean.
    net = _seeded_scorer(7)
    bgr_mean = torch.tensor([104.0, 117.0, 123.0], dtype=torch.float64).view(1, 3, 1, 1)
    to_caffe = lambda x: x.flip(1) * 255 - bgr_mean
    from_caffe = lambda c: (c + bgr_mean).flip(1) / 255
    for size in (20, 31):
        x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size), dtype=torch.float64)
        c = to_caffe(x).requires_grad_(True)
        (g,) = torch.autograd.grad(net(from_caffe(c))[0, 1], c)
        ref = from_caffe(c.detach() + 100.0 * g)
        xk = x.clone().requires_grad_(True)
        (gk,) = torch.autograd.grad(net(xk)[0, 1], xk)
        kit = x + references.value("02", "learning rate (Yosinski smooth_blur)") * gk
        assert torch.allclose(kit, ref, rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------- 03 adversarial examples (tests go here)
# Goodfellow et al. 2015 (arXiv:1412.6572): FGSM x + ε·sign(∇x J) with ε = .007 "the smallest bit
# of an 8 bit image encoding after GoogLeNet's conversion to real numbers"; Kurakin et al. 2017
# (arXiv:1607.02533), sec. 2.2: iterative steps of α = 1 on 0–255 pixels clipped to the ε-ball.


class _Affine(torch.nn.Module):
    """x ↦ a·x + b: a network's input conversion (e.g. [0, 1] to [−1, 1])."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a * x + self.b


@pytest.fixture(scope="module")
def answers03():
    from solution_code import solution_namespace
    return solution_namespace("03_adversarial")


@pytest.mark.parametrize("size", [12, 29])
def test_03_fgsm_at_one_grey_level_on_a_minus_one_to_one_network_equals_the_kit_fgsm(answers03, size):
    fgsm = answers03["fgsm"]
    net = _seeded_scorer(size)
    levels = 255.0
    # On inputs spanning [−1, 1] one grey level is 2/255 ≈ .0078, close to the paper's .007 (the paper
    # does not state GoogLeNet's input range).
    one_level_signed = 2.0 / levels
    assert abs(0.007 - one_level_signed) < 0.11 * one_level_signed
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size), dtype=torch.float64)
    y = torch.tensor([1, 3])
    xs = (2 * x - 1).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(net(xs), y)
    (g,) = torch.autograd.grad(loss, xs)
    ref = ((xs.detach() + one_level_signed * g.sign()).clamp(-1, 1) + 1) / 2
    eps = references.value("03", "FGSM ε (Goodfellow et al.)")
    kit_net = torch.nn.Sequential(_Affine(2.0, -1.0), net)           # the same network fed [0, 1] pixels
    kit = fgsm(kit_net, x, y, eps)
    assert torch.allclose(kit, ref, rtol=0, atol=1e-12)
    # Two grey levels (the reading ".007 in [0, 1] units ≈ 2/255") is a different attack.
    assert not torch.allclose(fgsm(kit_net, x, y, 2 / 255), ref, atol=1e-6)


@pytest.mark.parametrize("size", [10, 23])
def test_03_kurakin_iterative_step_in_grey_levels_equals_the_kit_attack(answers03, size):
    attack = answers03["targeted_attack"]
    net = _seeded_scorer(50 + size)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size), dtype=torch.float64)
    t = torch.tensor([0, 4])
    import math

    eps_levels = references.value("03", "fooling ε") * 255
    n = math.ceil(min(eps_levels + 4, 1.25 * eps_levels))
    # Reference on 0–255 pixels: X ← clip_{X0, ε}(X − α·sign(∇ CE(X, t))), α = 1.
    x0 = 255 * x
    xr = x0.clone()
    for _ in range(n):
        xr.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(net(xr / 255), t)
        (g,) = torch.autograd.grad(loss, xr)
        xr = xr.detach() - 1.0 * g.sign()
        xr = torch.minimum(torch.maximum(xr, x0 - eps_levels), x0 + eps_levels).clamp(0, 255)
    kit = attack(net, x, t, references.value("03", "fooling ε"),
                 references.value("03", "iterative step α (Kurakin et al.)"), n)
    assert n == 5 and torch.allclose(kit, xr / 255, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- 04 feature inversion (tests go here)
# aravindhm/nnpreimage: experiments/exp_inversion.m divides objectiveWeight C by ‖Φ₀‖²;
# core/get_defaults.m: β = 2, λ_TV = (6.5/80)^β; layers/tv.m: the TV sum over every pixel
# (the last column/row differ by 0, replicated) divided by H·W; pixels are 0–255 minus the mean.


def _nnpreimage_tv(x255, beta):
    """layers/tv.m in our words: neighbour differences with the last column/row replicated, / (H·W)."""
    h, w = x255.shape[-2:]
    d1 = torch.cat([x255[..., :, 1:], x255[..., :, -1:]], dim=-1) - x255
    d2 = torch.cat([x255[..., 1:, :], x255[..., -1:, :]], dim=-2) - x255
    return ((d1 * d1 + d2 * d2) ** (beta / 2)).sum() / (h * w)


def _flat_border(size, seed):
    """Random [1,3,size,size] image in [0,1] whose last row and last column are one grey (0.5).

    tv.m also counts the differences along the last row and down the last column, which the
    kit's R_β leaves out; on such an image they are 0, so the two sums agree exactly.
    """
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x[..., -1, :] = 0.5
    x[..., :, -1] = 0.5
    return x


@pytest.fixture(scope="module")
def answers04():
    from solution_code import solution_namespace
    return solution_namespace("04_feature_inversion")


@pytest.mark.parametrize("size", [18, 31])
def test_04_nnpreimage_energy_over_c_equals_the_kit_objective_for_every_c(answers04, size):
    from helpers import inversion

    loss_fn, tv_beta = answers04["inversion_loss"], answers04["tv_beta"]
    conv = torch.nn.Conv2d(3, 6, 3, stride=2).double()
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    caffe_mean = torch.tensor([123.0, 117.0, 104.0], dtype=torch.float64).view(1, 3, 1, 1)
    phi_caffe = lambda x255: torch.relu(conv(x255))          # the network on nnpreimage's input
    phi_kit = lambda x: phi_caffe(255 * x - caffe_mean)     # the same network seen from [0, 1]
    target = phi_kit(_flat_border(size, 1))
    x = _flat_border(size, 2)
    beta = references.value("04", "β")
    strengths = references.value("04", "λ strength grid")
    assert sorted(1 / s for s in strengths) == pytest.approx(sorted(references.NNPREIMAGE_OBJECTIVE_WEIGHTS))
    for c in references.NNPREIMAGE_OBJECTIVE_WEIGHTS:
        x255 = 255 * x - caffe_mean
        reference = (c / target.pow(2).sum() * (phi_caffe(x255) - target).pow(2).sum()
                     + (6.5 / 80) ** beta * _nnpreimage_tv(x255, beta))
        lam = inversion.tv_weight(size, size, beta, strength=1 / c)
        kit = loss_fn(phi_kit(x), target) + lam * tv_beta(x, beta)
        assert torch.allclose(reference / c, kit, rtol=1e-10), c
        # The test can fail: strength = C instead of 1/C gives another balance.
        wrong = loss_fn(phi_kit(x), target) + inversion.tv_weight(size, size, beta, strength=c) * tv_beta(x, beta)
        if c != 1:
            assert not torch.allclose(reference / c, wrong, rtol=1e-3)
    assert min(strengths) == pytest.approx(1 / 300)


# ---------------------------------------------------------------- 05 DeepDream (tests go here)
# google/deepdream, dream.ipynb (make_step): on Caffe input (BGR, 0–255 minus the mean) the
# objective's gradient at the layer is the activation itself; the step adds
# step_size / mean|g| · g with step_size 1.5.


@pytest.fixture(scope="module")
def answers05():
    from solution_code import solution_namespace
    return solution_namespace("05_deepdream")


@pytest.mark.parametrize("size", [21, 36])
def test_05_deepdream_step_on_caffe_input_equals_the_kit_step(answers05, size):
    dream_step = answers05["dream_step"]
    conv = torch.nn.Conv2d(3, 7, 3).double()
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(size), dtype=torch.float64))
    bgr_mean = torch.tensor([104.0, 117.0, 123.0], dtype=torch.float64).view(1, 3, 1, 1)
    to_caffe = lambda x: x.flip(1) * 255 - bgr_mean
    from_caffe = lambda c: (c + bgr_mean).flip(1) / 255
    layer_caffe = lambda c: torch.relu(conv(c / 255))        # a layer of a network fed Caffe input
    layer_kit = lambda x: layer_caffe(to_caffe(x))
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size + 1), dtype=torch.float64)
    c = to_caffe(x).requires_grad_(True)
    a = layer_caffe(c)
    (g,) = torch.autograd.grad(a, c, grad_outputs=a.detach())  # dst.diff = dst.data
    ref = from_caffe(c.detach() + 1.5 / g.abs().mean() * g)
    kit = dream_step(layer_kit, x, references.value("05", "step size"))
    # The kit adds 1e-8 to mean|g| (in [0, 1] units, where mean|g| is 255× the Caffe one).
    assert torch.allclose(kit, ref, rtol=1e-6, atol=1e-9)
    assert not torch.allclose(dream_step(layer_kit, x, 1.5), ref, atol=1e-3)
    assert references.value("05", "jitter (px)") == 32 and references.value("05", "octave scale") == 1.4
    assert references.value("05", "octaves") == 4 and references.value("05", "steps per octave") == 10


# ---------------------------------------------------------------- 06 and 07 style (tests go here)
# leongatys/PytorchNeuralStyleTransfer, NeuralStyleTransfer.ipynb (the Gatys authors' code):
# GramMatrix = F Fᵀ / (h·w); GramMSELoss = nn.MSELoss (mean over the N×N entries) between that
# and the style's; content = nn.MSELoss on 'r42'; weights 1e3/n² (n = 64, 128, 256, 512, 512)
# for 'r11' … 'r51' and 1e0 for 'r42'; total = Σ weight · loss. Written here from that definition.
_STYLE_CHANNELS = (64, 128, 256, 512, 512)


def _authors_total(content_feats, content_target, style_feats, style_feats_target):
    def gram_over_m(f):
        flat = f.reshape(f.shape[0], f.shape[1], -1)
        return flat @ flat.transpose(1, 2) / flat.shape[-1]
    total = 1e0 * ((content_feats - content_target) ** 2).mean()
    for f, s, n in zip(style_feats, style_feats_target, _STYLE_CHANNELS):
        total = total + 1e3 / n ** 2 * ((gram_over_m(f) - gram_over_m(s)) ** 2).mean()
    return total


def _kit_terms(answers07, content_feats, content_target, style_feats, style_feats_target):
    """Notebook 07's objective: α·(2/(N·M))·content_loss + β·texture_loss with the table's weights."""
    def gram(f):
        flat = f.reshape(f.shape[0], f.shape[1], -1)
        return flat @ flat.transpose(1, 2)
    alpha = references.value("07", "content weight α")
    beta = references.value("07", "style weight β")
    content = alpha * references.per_element_content(
        answers07["content_loss"](content_feats, content_target), content_feats)
    style = beta * answers07["texture_loss"](style_feats, [gram(s) for s in style_feats_target],
                                           references.gatys_layer_weights())
    return content, style


def _style_features(generator, scale):
    """Random relu4_2 and relu1_1 … relu5_1 activations of one image, spatial size ∝ ``scale``."""
    sizes = [(8 * scale, 6 * scale), (4 * scale, 3 * scale), (2 * scale, 3 * scale // 2 + 1),
             (scale, scale), (scale, scale)]
    feats = [torch.rand(1, n, h, w, generator=generator, dtype=torch.float64) for n, (h, w) in
             zip(_STYLE_CHANNELS, sizes)]
    content = torch.rand(1, 512, scale, scale + 1, generator=generator, dtype=torch.float64)
    return content, feats


@pytest.fixture(scope="module")
def answers07():
    from instructor.answers import solution_namespace
    return solution_namespace("07_style_transfer")


@pytest.mark.parametrize("scale", [2, 5])
def test_07_objective_equals_the_authors_code(answers07, scale):
    g = torch.Generator().manual_seed(scale)
    content, style = _style_features(g, scale)
    content_target, style_target = _style_features(g, scale)
    kit = sum(_kit_terms(answers07, content, content_target, style, style_target))
    reference = _authors_total(content, content_target, style, style_target)
    torch.testing.assert_close(kit, reference, rtol=1e-12, atol=0)


def test_07_default_ratio_is_the_papers_and_layer_weights_are_4_over_n_squared():
    assert references.value("07", "content weight α") / references.value("07", "style weight β") == 1e-3
    assert references.gatys_layer_weights() == [4 / 64 ** 2, 4 / 128 ** 2, 4 / 256 ** 2, 4 / 512 ** 2, 4 / 512 ** 2]


def test_07_both_terms_keep_their_values_on_an_image_twice_as_large(answers07):
    """Features tiled 2×2 stand for a periodic image twice the size: the converted terms (and so
    their balance) stay put, while the paper's raw ½Σ(F−P)² grows 4×."""
    g = torch.Generator().manual_seed(0)
    content, style = _style_features(g, 3)
    content_target, style_target = _style_features(g, 3)
    tile = lambda f: f.repeat(1, 1, 2, 2)   # noqa: E731
    small = _kit_terms(answers07, content, content_target, style, style_target)
    large = _kit_terms(answers07, tile(content), tile(content_target), [tile(f) for f in style],
                       [tile(f) for f in style_target])
    for a, b in zip(small, large):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)
    raw = answers07["content_loss"]
    torch.testing.assert_close(raw(tile(content), tile(content_target)), 4 * raw(content, content_target),
                               rtol=1e-12, atol=0)


# ---------------------------------------------------------------- 08 fast style transfer (tests go here)
# pytorch/examples, fast_neural_style/neural_style/neural_style.py (train) with utils.py
# (gram_matrix, normalize_batch) and vgg.py (Vgg16: slices [0:4], [4:9], [9:16], [16:23] of
# torchvision's vgg16().features). The network maps 0–255 photos x to 0–255 outputs y;
# total = content_weight · mse(φ(y).relu2_2, φ(x).relu2_2)
#       + style_weight · Σ_j mse(gram(φ_j(y)), gram(φ_j(s)))  with φ = VGG(normalize_batch(·)).
# Written here from that definition; the kit's side is notebook 08's solution functions.
_FNS_SLICES = ((0, 4), (4, 9), (9, 16), (16, 23))   # relu1_2, relu2_2, relu3_3, relu4_3
_FNS_MEAN, _FNS_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)   # utils.normalize_batch


def _fns_features(vgg_features, batch255):
    """The example's Vgg16 outputs for 0–255 images: (y/255 − mean)/std, then the four slices."""
    mean = batch255.new_tensor(_FNS_MEAN).view(-1, 1, 1)
    std = batch255.new_tensor(_FNS_STD).view(-1, 1, 1)
    h = (batch255 / 255.0 - mean) / std
    outs = []
    for start, stop in _FNS_SLICES:
        for i in range(start, stop):
            h = vgg_features[i](h)
        outs.append(h)
    return outs


def _fns_gram(y):
    b, c, h, w = y.shape
    f = y.reshape(b, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def _fns_total_loss(vgg_features, y255, x255, style255, content_weight, style_weight):
    """The example's total loss for one batch (its train loop, style repeated over the batch)."""
    mse = torch.nn.functional.mse_loss
    fy, fx = _fns_features(vgg_features, y255), _fns_features(vgg_features, x255)
    gram_style = [_fns_gram(f) for f in _fns_features(vgg_features, style255.repeat(len(y255), 1, 1, 1))]
    content = content_weight * mse(fy[1], fx[1])
    style = style_weight * sum(mse(_fns_gram(a), g) for a, g in zip(fy, gram_style))
    return content + style


@pytest.fixture(scope="module")
def fns_setup():
    from solution_code import solution_namespace

    from helpers import fast_style, models

    model = models.load_model("vgg16", "random", seed=0)
    for m in model.net.features:
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    layers = list(references.value("08", "style layers"))
    extractor = models.FeatureExtractor(model, layers)
    ns = solution_namespace("08_fast_style_transfer")

    def kit_loss(style01, layer_weights=None):
        return fast_style.PerceptualLoss(
            extractor, style01, gram_fn=ns["normalized_gram"], content_fn=ns["feature_reconstruction_loss"],
            style_fn=ns["style_reconstruction_loss"],
            content_weight=references.value("08", "content weight λ_c"),
            style_weight=references.value("08", "style weight λ_s"),
            layer_weights=layer_weights or references.value("08", "style layer weights w_j"),
            content_layer=references.value("08", "content layer"), style_layers=layers)

    return model.net.features, kit_loss


@pytest.mark.parametrize("size, style_size", [((32, 32), (40, 36)), ((48, 64), (56, 56))])
def test_08_fast_style_loss_equals_pytorch_examples_as_a_function_of_the_image(fns_setup, size, style_size):
    """Kit loss at ŷ = y/255 in [0, 1] = the example's loss at y in 0–255 (constant 1), value and gradient."""
    vgg_features, kit_loss = fns_setup
    g = torch.Generator().manual_seed(sum(size))
    x01, y01 = torch.rand(2, 3, *size, generator=g), torch.rand(2, 3, *size, generator=g)
    style01 = torch.rand(1, 3, *style_size, generator=g)
    y01.requires_grad_(True)
    kit = sum(kit_loss(style01)(y01, x01).values())
    y255 = (255 * y01.detach()).requires_grad_(True)
    ref = _fns_total_loss(vgg_features, y255, 255 * x01, 255 * style01,
                          references.FNS_CONTENT_WEIGHT, references.FNS_STYLE_WEIGHT)
    torch.testing.assert_close(kit, ref, rtol=1e-4, atol=0)
    (kit_grad,) = torch.autograd.grad(kit, y01)
    (ref_grad,) = torch.autograd.grad(ref, y255)
    torch.testing.assert_close(kit_grad, 255 * ref_grad, rtol=1e-3, atol=1e-3 * float(kit_grad.abs().max()))
    # The contract's plain sum over layers (every w_j = 1) is not the example's loss: the
    # comparison above can fail.
    plain = sum(kit_loss(style01, layer_weights=[1.0] * 4)(y01.detach(), x01).values())
    assert not torch.isclose(plain, ref.detach(), rtol=0.1), (plain, ref)


def test_08_fast_style_training_in_the_examples_units_takes_the_examples_adam_step(fns_setup):
    """value_range 255: same network function, same weight gradients, same Adam step as the example's."""
    from helpers.transformer_net import TransformerNet

    vgg_features, kit_loss = fns_setup
    g = torch.Generator().manual_seed(5)
    x01, style01 = torch.rand(2, 3, 32, 32, generator=g), torch.rand(1, 3, 40, 40, generator=g)
    torch.manual_seed(0)
    kit_net = TransformerNet(value_range=references.value("08", "transformer pixel range"))
    example_net = TransformerNet(value_range=1.0)       # the example's layers, fed 0–255 directly
    example_net.load_state_dict(kit_net.state_dict())
    lr = references.value("08", "learning rate (Adam)")
    kit_opt = torch.optim.Adam(kit_net.parameters(), lr=lr)
    ref_opt = torch.optim.Adam(example_net.parameters(), lr=lr)
    loss = kit_loss(style01)
    kit_total = sum(loss(kit_net(x01), x01).values())
    ref_total = _fns_total_loss(vgg_features, example_net(255 * x01), 255 * x01, 255 * style01,
                                references.FNS_CONTENT_WEIGHT, references.FNS_STYLE_WEIGHT)
    torch.testing.assert_close(kit_total, ref_total, rtol=1e-4, atol=0)
    kit_total.backward()
    ref_total.backward()
    # The biases of convolutions followed by instance norm get gradients that are 0 up to
    # rounding (the norm subtracts them again): compared on the scale of all gradients.
    scale = max(float(p.grad.abs().max()) for p in example_net.parameters())
    for (name, a), b in zip(kit_net.named_parameters(), example_net.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-6 * scale,
                                   msg=lambda m, name=name: f"{name}: {m}")
    kit_opt.step()
    ref_opt.step()
    # After one Adam step the two networks are still one function (in their own units).
    probe = torch.rand(1, 3, 36, 28, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(255 * kit_net(probe), example_net(255 * probe), rtol=1e-4, atol=1e-3)
    # A network with raw outputs in [0, 1] and the same weights is another function of them.
    unit_net = TransformerNet(value_range=1.0)
    unit_net.load_state_dict(example_net.state_dict())
    assert not torch.allclose(unit_net(x01), kit_net(x01), rtol=0.1)
