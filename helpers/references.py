"""Every default of the pretrained (ImageNet) path, with the reference it comes from.

Each :class:`Default` names the published code or paper a setting is taken from, the
value there in that reference's own units, the value in the kit's units (images
``[B, 3, H, W]`` in [0, 1], the kit's loss functions as the notebooks define them) and
how one becomes the other. ``tests/notebooks/test_reference_units.py`` re-implements each
reference's objective or step and checks the conversion.

The notebooks print their topic's rows with :func:`show`; ``python -m helpers.references``
prints the whole table.

Settings for random weights (offline, grading) are not tuned here: every row is for
trained ImageNet weights.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Default:
    """One default of the pretrained path.

    Attributes:
        topic: notebook number, e.g. ``"07"``.
        name: what the setting is, as the notebook calls it (e.g. ``"style weight β"``).
        value: the kit's value, in the kit's units (a number, or text for a list).
        reference: repository and file (or paper and section) the setting comes from.
        reference_value: the setting as written there, in its own units.
        conversion: how the reference's value becomes the kit's value.
    """

    topic: str
    name: str
    value: object
    reference: str
    reference_value: str
    conversion: str


# --------------------------------------------------------------------------- 06 and 07
# Gatys, Ecker & Bethge, "Image style transfer using convolutional neural networks"
# (CVPR 2016) and the authors' PyTorch code, leongatys/PytorchNeuralStyleTransfer,
# NeuralStyleTransfer.ipynb: content 'r42' with nn.MSELoss and weight 1; style
# 'r11' … 'r51' with GramMSELoss (Gram divided by h·w, then the mean of the squared
# differences over the N×N entries) and weights 1e3/N² for N = 64, 128, 256, 512, 512;
# both on their VGG-19 normalised to mean activation 1 per filter.
GATYS_STYLE_CHANNELS = (64, 128, 256, 512, 512)   # N_l of relu1_1 … relu5_1
GATYS_STYLE_NUMERATOR = 1e3                        # the code's style weight is 1e3 / N_l²
GATYS_CONTENT_WEIGHT = 1.0

_GATYS_CODE = "leongatys/PytorchNeuralStyleTransfer, NeuralStyleTransfer.ipynb"


def gatys_layer_weights(channels=GATYS_STYLE_CHANNELS) -> list[float]:
    """The kit's style layer weights w_l = 4/N_l² (the authors' 1/N_l², with E_l's 1/4 cancelled)."""
    return [4.0 / n ** 2 for n in channels]


def per_element_content(content_value, features):
    """``content_loss``'s ½Σ(F−P)² per image turned into the authors' mean squared error.

    Multiplies by 2/(C·H·W) of one image of ``features`` ``[B, C, H, W]``, so the term does
    not grow with the number of positions and one β means the same at every size.
    """
    return content_value * 2.0 / features[0].numel()

STYLE_TRANSFER = [
    Default("07", "content weight α", GATYS_CONTENT_WEIGHT, _GATYS_CODE,
            "content_weights = [1e0] on nn.MSELoss (mean over C·H·W)",
            "the content term is α · content_loss(F, P) · 2 / (C·H·W): ½Σ(F−P)² times 2/(C·H·W) "
            "is the mean squared error, per element, so it does not grow with image size"),
    Default("07", "style weight β", GATYS_STYLE_NUMERATOR, _GATYS_CODE,
            "style_weights = [1e3/n**2 for n in [64, 128, 256, 512, 512]] on MSE of Gram/(h·w)",
            "mean over N² of (G/M − Ĝ/M)² = 4·E_l/N², so 1e3/N²·that = β·w_l·E_l with β = 1e3 "
            "and w_l = 4/N_l²"),
    Default("07", "style layer weights w_l", "4/N_l² = 4/64², 4/128², 4/256², 4/512², 4/512²", _GATYS_CODE,
            "1/N_l² inside the style weights",
            "the 4 cancels E_l's 1/4; the 1/N_l² is the code's per-layer weight"),
    Default("07", "network", "VGG-19, average pooling, filters rescaled to mean activation 1",
            "Gatys et al. 2015 (texture synthesis, NIPS), §2; Gatys et al. 2016 §2",
            "vgg_conv.pth: Caffe VGG-19 normalised on ImageNet",
            "the kit rescales torchvision's VGG-19 the same way on its bundled calibration images "
            "(helpers.filter_norm); mean activations 1 make the same β mean the same for any weights"),
    Default("07", "image size (gpu profile)", 512, _GATYS_CODE, "img_size = 512 (transforms.Scale: the shorter side)",
            "512 px, but on the longer side (the kit's one size rule), so a 4:3 photo has 3/4 of the pixels"),
    Default("07", "L-BFGS iterations (gpu profile)", 500, _GATYS_CODE, "max_iter = 500", "unchanged"),
    Default("06", "texture layers and weights", "conv1_1, pool1, pool2, pool3, pool4; equal w_l = 1/5",
            "Gatys et al. 2015 (texture synthesis, NIPS), §3",
            "conv1_1, pool1 … pool4, equal weights",
            "equal weights as in the paper; one term only, so their sum only scales the loss"),
    Default("06", "network", "VGG-19, average pooling, filters rescaled to mean activation 1",
            "Gatys et al. 2015 (texture synthesis, NIPS), §2", "Caffe VGG-19 normalised on ImageNet",
            "as 07: torchvision's VGG-19 rescaled on the bundled calibration images (helpers.filter_norm)"),
]

# --------------------------------------------------------------------------- 02 gradient ascent
# CS231n (Stanford), assignment 3, NetworkVisualization (PyTorch): create_class_visualization
# on SqueezeNet 1.1 at 224×224 with l2_reg 1e-3, learning_rate 25, num_iterations 100,
# blur_every 10 (blur_image with σ 0.5), max_jitter 16, on the ImageNet-normalised image
# (x − μ)/σ, μ and σ torchvision's (weight metadata of every ImageNet classifier). The
# assignment asks for a plain step img += learning_rate · g, g = ∇(score − l2_reg·‖img‖²); it
# prescribes the normalised step g/‖g‖ only for its fooling images. The kit normalises here too
# (as many solutions do), so 25 becomes the step's length: a reading of the reference, not a
# conversion of it, since a plain step's length depends on the trained network's gradients.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: One std standing for the three: ``(mean_c 1/σ_c²)^(-1/2)`` ≈ 0.22597. With it the
#: normalised L2 term ``λ_n Σ_c ‖x_c − μ_c‖²/σ_c²`` equals ``(λ_n/σ̄²)‖x − μ‖²`` whenever
#: the three channels deviate alike (grey deviations), and within ±2.7 % otherwise.
IMAGENET_STD_EFFECTIVE = (sum(1 / s ** 2 for s in IMAGENET_STD) / 3) ** -0.5
CS231N_L2_REG = 1e-3
CS231N_LEARNING_RATE = 25.0
CS231N_IMAGE_SIZE = 224
_CS231N = "cs231n assignment 3, NetworkVisualization-PyTorch.ipynb (create_class_visualization)"
_YOSINSKI = ("yosinski/deep-visualization-toolbox, doc/running-optimize-image.md (Table 1 rows) "
             "and optimize/gradient_optimizer.py (_get_x0)")

GRADIENT_ASCENT: list[Default] = [
    Default("02", "l2_reg λ", CS231N_L2_REG / IMAGENET_STD_EFFECTIVE ** 2, _CS231N,
            "l2_reg = 1e-3 on ‖(x − μ)/σ‖², the normalised image",
            "λ_n‖(x−μ)/σ‖² = Σ_c (λ_n/σ_c²)‖x_c−μ_c‖² = 0.01907, 0.01993, 0.01975 per channel; the "
            "contract's scalar λ is their mean, λ_n/σ̄² = 1e-3 · 19.584 = 0.019584 with σ̄ = 0.22597, "
            "centred on the mean colour (center = μ)"),
    Default("02", "pixel step (RMS per step)",
            CS231N_LEARNING_RATE * IMAGENET_STD_EFFECTIVE / (3 * CS231N_IMAGE_SIZE ** 2) ** 0.5, _CS231N,
            "learning_rate = 25 (a plain step in the assignment; the kit normalises g/‖g‖, as the "
            "assignment does for fooling images, so every step has L2 norm 25 on the normalised 224×224 image)",
            "in pixels the step norm is 25·σ̄ = 5.649 (σ_c ≠ σ̄ reweights channels by σ_c²/σ̄², "
            "0.97–1.03); per value over 3·224² values that is an RMS of 0.014561, kept per value at other "
            "sizes, so the kit's step is the reference's times √(H·W)/224"),
    Default("02", "steps (CS231n)", 100, _CS231N, "num_iterations = 100", "unchanged"),
    Default("02", "blur σ (CS231n, px at 224)", 0.5, _CS231N,
            "blur_image(img, sigma=0.5) every blur_every = 10 steps, 224×224 input",
            "pixels of a 224-pixel image; scale by size/224"),
    Default("02", "blur every (CS231n)", 10, _CS231N, "blur_every = 10", "unchanged (steps)"),
    Default("02", "jitter (px at 224)", 8, _CS231N,
            "max_jitter = 16: roll by ox, oy uniform in {0, …, 16}",
            "the kit's Jitter(j) rolls by {−j, …, j}: j = 8 gives the same 17 shifts up to a constant "
            "offset that the roll-back cancels; scale by size/224"),
    Default("02", "start (CS231n)", "mean colour + σ_c·N(0, 1)", _CS231N,
            "img = torch.randn(1, 3, 224, 224) on the normalised image",
            "x = μ + σ·z; not used by the kit, which starts as Yosinski et al. do (small noise)"),
    Default("02", "start noise σ (Yosinski)", 10 / 255, _YOSINSKI,
            "start_at = 'mean_plus_rand': x0 = N(0, 10) on 0–255 pixels minus the mean image",
            "÷ 255: the mean colour plus N(0, 0.0392) in [0, 1] pixels (transforms.mean_start)"),
    Default("02", "regulariser centre", IMAGENET_MEAN, _YOSINSKI,
            "0 of the mean-subtracted Caffe input (the ImageNet mean image)",
            "the mean colour in [0, 1] pixels (transforms.NEUTRAL); L2 decay, both clippings and the "
            "step's λ‖I − center‖² are centred on it"),
    Default("02", "L2 decay θ (smooth_blur)", 0.0001, _YOSINSKI, "--decay 0.0001 (Table 1, row 3)",
            "unchanged: a shrink factor per step (about the centre)"),
    Default("02", "blur σ (smooth_blur, px at 227)", 1.0, _YOSINSKI,
            "--blur-radius 1.0 --blur-every 4 on the 227×227 CaffeNet input (Table 1, row 3)",
            "pixels of a 227-pixel image: σ·size/227 (YosinskiPreset.blur_sigma_at)"),
    Default("02", "blur every (Yosinski)", 4, _YOSINSKI, "--blur-every 4 (Table 1, rows 1, 3, 4)",
            "unchanged (steps)"),
    Default("02", "small-norm clipping θ_n_pct", 20, _YOSINSKI,
            "--small-norm-percentile 20 (Table 1, row 2; row 1 has 50)",
            "unchanged: a percentile does not depend on the intensity scale; norms about the centre"),
    Default("02", "small-contribution clipping θ_c_pct", 90, _YOSINSKI,
            "--px-abs-benefit-percentile 90 (Table 1, row 4)",
            "unchanged: a percentile; contributions |Σ_c (x − centre)·g|"),
    Default("02", "steps (Yosinski smooth_blur)", 1000, _YOSINSKI, "--max-iter 1000 (Table 1, row 3)",
            "unchanged; the gpu profile runs the chosen preset's iterations"),
    Default("02", "learning rate (Yosinski smooth_blur)", 100.0 / 255 ** 2, _YOSINSKI,
            "--lr-policy constant --lr-params \"{'lr': 100.0}\" on 0–255 pixels",
            "÷ 255² for x ← x + lr·∇x in [0, 1] pixels (the gradient grows 255×, the step shrinks 255×); "
            "for CaffeNet's scores, so the kit steps by the CS231n pixel step instead"),
]

# --------------------------------------------------------------------------- 03 adversarial examples
# Goodfellow, Shlens & Szegedy, "Explaining and harnessing adversarial examples" (ICLR 2015,
# arXiv:1412.6572), Fig. 1: ε = .007, "the magnitude of the smallest bit of an 8 bit image
# encoding after GoogLeNet's conversion to real numbers". Kurakin, Goodfellow & Bengio,
# "Adversarial examples in the physical world" (ICLR 2017 workshop, arXiv:1607.02533), sec. 2.2:
# basic iterative method with α = 1 on 0–255 pixels and min(ε + 4, 1.25ε) iterations.
_GOODFELLOW = "Goodfellow, Shlens & Szegedy 2015 (arXiv:1412.6572), Fig. 1 and sec. 4"
_KURAKIN = "Kurakin, Goodfellow & Bengio 2017 (arXiv:1607.02533), sec. 2.2"

# CS231n assignment 3, make_fooling_image: X += learning_rate · g / ‖g‖₂ with learning_rate = 1
# and g = ∇ S_target, on the ImageNet-normalised image, until the top-1 class is the target.
CS231N_FOOLING_LEARNING_RATE = 1.0
_CS231N_FOOL = "cs231n assignment 3, NetworkVisualization-PyTorch.ipynb (make_fooling_image)"

ADVERSARIAL: list[Default] = [
    Default("03", "FGSM ε (Goodfellow et al.)", 1 / 255, _GOODFELLOW,
            "ε = .007, 'the smallest bit of an 8 bit image encoding after GoogLeNet's conversion to real "
            "numbers'",
            "1/255 = 0.0039 in [0, 1] pixels: one grey level if GoogLeNet's inputs spanned [−1, 1], where a "
            "level is 2/255 = 0.0078 ≈ .007; the paper does not state the range (read in [0, 1] units, .007 "
            "would be about two levels)"),
    Default("03", "iterative step α (Kurakin et al.)", 1 / 255, _KURAKIN, "α = 1 on 0–255 pixels",
            "÷ 255: one grey level per step (the success-rate sweep's kurakin_schedule)"),
    Default("03", "iterative steps (Kurakin et al.)", "ceil(min(ε + 4, 1.25·ε)), ε in grey levels", _KURAKIN,
            "min(ε + 4, 1.25ε) iterations, ε on 0–255 pixels",
            "unchanged, with ε counted in grey levels (ε·255); rounded up"),
    Default("03", "fooling ε", 4 / 255, _KURAKIN,
            "ε = 4 on 0–255 pixels, one of the budgets of their experiments (2, 4, 8, 16, …)",
            "÷ 255: four grey levels"),
    Default("03", "fooling step", 0.5 / 255, _KURAKIN,
            "α = 1 with min(ε + 4, 1.25ε) = 5 iterations at ε = 4",
            "a kit choice, not the reference's: half of α (0.5/255) with more steps (5 smoke, 20 cpu, "
            "40 gpu) inside the same ε-ball, for a chosen target that is not the least likely class"),
    Default("03", "fooling image step (RMS per step)",
            CS231N_FOOLING_LEARNING_RATE * IMAGENET_STD_EFFECTIVE / (3 * CS231N_IMAGE_SIZE ** 2) ** 0.5, _CS231N_FOOL,
            "learning_rate = 1 on g/‖g‖₂: every step has L2 norm 1 on the normalised 224×224 image",
            "in pixels the step norm is 1·σ̄ = 0.226; per value over 3·224² values an RMS of 0.000582, "
            "kept per value at other sizes (as notebook 02's class-visualisation step)"),
    Default("03", "fooling image steps (at most)", 100, _CS231N_FOOL,
            "'you should be able to fool the network in fewer than 100 iterations' (the loop itself "
            "runs until the top-1 class is the target)",
            "a cap of 100 steps, so that a network it cannot fool still stops"),
]

# --------------------------------------------------------------------------- 04 feature inversion
# Mahendran & Vedaldi, "Visualizing deep convolutional neural networks using natural
# pre-images" (IJCV 2016), code aravindhm/nnpreimage: experiments/exp_all.m runs the
# inversions with objectiveWeight C ∈ {1, 100, 300, 20}; experiments/exp_inversion.m divides
# C by ‖Φ₀‖²; core/get_defaults.m sets β = 2, λ_TV = (6.5/80)^β, 300 steps then 50 at a tenth
# of the rate; layers/tv.m divides the TV sum by H·W; pixels are 0–255 minus the mean image.
_NNPREIMAGE = "aravindhm/nnpreimage, experiments/exp_all.m, exp_inversion.m, core/get_defaults.m, layers/tv.m"
NNPREIMAGE_OBJECTIVE_WEIGHTS = (1, 20, 100, 300)

FEATURE_INVERSION: list[Default] = [
    Default("04", "λ strength grid", tuple(1 / c for c in sorted(NNPREIMAGE_OBJECTIVE_WEIGHTS, reverse=True)),
            _NNPREIMAGE,
            "objectiveWeight C ∈ {1, 20, 100, 300} on C·‖Φ − Φ₀‖²/‖Φ₀‖² + (6.5/80)^β·TV/(H·W) (0–255 pixels)",
            "divide the energy by C: the feature term becomes the kit's inversion_loss and the TV term "
            "(1/C)·TV_kit/(H·W·V^β) with V = (80/255)/6.5, i.e. strength = 1/C in inversion.tv_weight: "
            "1/300, 1/100, 1/20, 1 (C = 300 is the weakest regulariser)"),
    Default("04", "λ strength", 1.0, _NNPREIMAGE, "objectiveWeight = 1 (get_defaults.m), λ_TV = (6.5/80)²",
            "strength = 1/C = 1: λ = 1/(H·W·V²) on tv_beta in [0, 1] pixels"),
    Default("04", "β", 2.0, _NNPREIMAGE, "opts.beta = 2 (get_defaults.m)", "unchanged (an exponent)"),
    Default("04", "steps", "300 + 50 at a tenth of the rate", _NNPREIMAGE,
            "fastLR: 300 steps; slowLR = 0.1·LR: 50 steps without jitter (get_preimage_opts.m)",
            "unchanged in the gpu profile; smaller profiles keep the 6:1 split"),
]

# --------------------------------------------------------------------------- 05 DeepDream
# google/deepdream, dream.ipynb: make_step(step_size=1.5, end='inception_4c/output', jitter=32)
# adds step_size/mean|g| · g to the Caffe input (BGR, 0–255 minus the mean), with a roll by
# up to ±32 px; deepdream(iter_n=10, octave_n=4, octave_scale=1.4).
_DEEPDREAM = "google/deepdream, dream.ipynb (make_step, deepdream)"

DEEPDREAM: list[Default] = [
    Default("05", "step size", 1.5 / 255, _DEEPDREAM,
            "step_size = 1.5 on Caffe's 0–255 mean-subtracted input, gradient divided by mean |g|",
            "÷ 255: the normalised gradient does not change with the pixel scale, so the step shrinks "
            "with the pixels; 1.5/255 = 0.00588 in [0, 1] pixels"),
    Default("05", "jitter (px)", 32, _DEEPDREAM, "jitter = 32: np.roll by ox, oy in {−32, …, 32}",
            "unchanged: the kit's Roll(32) draws from the same 65 shifts"),
    Default("05", "octave scale", 1.4, _DEEPDREAM, "octave_scale = 1.4", "unchanged"),
    Default("05", "octaves", 4, _DEEPDREAM, "octave_n = 4", "unchanged"),
    Default("05", "steps per octave", 10, _DEEPDREAM, "iter_n = 10", "unchanged"),
    Default("05", "layer", "inception4c", _DEEPDREAM, "end = 'inception_4c/output'",
            "torchvision GoogLeNet's inception4c output"),
]

# --------------------------------------------------------------------------- 08 fast style transfer
# pytorch/examples, fast_neural_style/neural_style/neural_style.py (train) and utils.py:
# TransformerNet on 0–255 pixels (ToTensor().mul(255)); VGG-16 sees normalize_batch(y) =
# (y/255 − mean)/std; content = content_weight · mse_loss(relu2_2); style = style_weight ·
# Σ_j mse_loss(gram_matrix(φ_j(y)), gram_matrix(φ_j(s))) over relu1_2, relu2_2, relu3_3,
# relu4_3 (vgg.py: slices [0:4], [4:9], [9:16], [16:23] of torchvision's vgg16 features),
# gram_matrix = FFᵀ/(C·H·W); Adam(lr); defaults --content-weight 1e5 --style-weight 1e10
# --lr 1e-3 --batch-size 4 --image-size 256 --epochs 2 --style-size None.
# Johnson, Alahi & Fei-Fei 2016, sec. 4.1: the 80k COCO training images resized to 256×256,
# batch 4, 40 000 iterations (about two epochs), Adam 1e-3, total variation weight 1e-6 … 1e-4
# chosen per style (PyTorch's example leaves TV out, and so does the kit).
_PYTORCH_FNS = "pytorch/examples, fast_neural_style/neural_style/neural_style.py and utils.py"
FNS_STYLE_CHANNELS = (64, 128, 256, 512)             # C_j of relu1_2, relu2_2, relu3_3, relu4_3
FNS_CONTENT_WEIGHT = 1e5
FNS_STYLE_WEIGHT = 1e10
FNS_PIXEL_RANGE = 255.0
COCO2014_TRAIN_IMAGES = 82783                        # the example's --dataset: COCO 2014 train

FAST_STYLE: list[Default] = [
    Default("08", "content weight λ_c", FNS_CONTENT_WEIGHT, _PYTORCH_FNS,
            "--content-weight 1e5 on mse_loss(φ(y).relu2_2, φ(x).relu2_2), the mean over B·C·H·W",
            "unchanged: that mean is the batch mean of ‖φ(ŷ) − φ(y)‖²/(C·H·W), feature_reconstruction_loss; "
            "VGG sees the same (y/255 − μ)/σ = (ŷ − μ)/σ for ŷ = y/255 in [0, 1], so the features are equal"),
    Default("08", "style weight λ_s", FNS_STYLE_WEIGHT, _PYTORCH_FNS,
            "--style-weight 1e10 on Σ_j mse_loss(G_j(y), G_j(s)), the mean over B·C_j² Gram entries, "
            "G = FFᵀ/(C·H·W)",
            "unchanged with the layer weights below: mean over B·C_j² entries = "
            "style_reconstruction_loss(layer j)/C_j² (a sum over C_j² entries, batch mean)"),
    Default("08", "style layer weights w_j", tuple(1 / c ** 2 for c in FNS_STYLE_CHANNELS), _PYTORCH_FNS,
            "none: mse_loss divides each layer's Σ by its C_j² entries",
            "w_j = 1/C_j² = 1/64², 1/128², 1/256², 1/512² (PerceptualLoss layer_weights='mse')"),
    Default("08", "content layer", "relu2_2", _PYTORCH_FNS + "; vgg.py", "features_y.relu2_2 (slice [4:9])",
            "unchanged: the kit's VGG-16 layer table names the same module"),
    Default("08", "style layers", ("relu1_2", "relu2_2", "relu3_3", "relu4_3"), _PYTORCH_FNS + "; vgg.py",
            "VggOutputs relu1_2, relu2_2, relu3_3, relu4_3 (slices [0:4], [4:9], [9:16], [16:23])",
            "unchanged"),
    Default("08", "transformer pixel range", FNS_PIXEL_RANGE, _PYTORCH_FNS,
            "the network maps ToTensor().mul(255) photos to unclamped 0–255 outputs",
            "TransformerNet(value_range=255): ×255 before the first layer, ÷255 after the last, so its "
            "weights, gradients and Adam steps are the example's; a network with [0, 1] raw outputs "
            "needs a 255× smaller last layer, and Adam's steps (≈ lr per weight) would move its output "
            "255× more per step"),
    Default("08", "learning rate (Adam)", 1e-3, _PYTORCH_FNS, "--lr 1e-3, Adam's other defaults",
            "unchanged (same weights and loss, see the pixel range)"),
    Default("08", "batch size", 4, _PYTORCH_FNS, "--batch-size 4", "unchanged"),
    Default("08", "training image size", 256, _PYTORCH_FNS,
            "--image-size 256: Resize(256) then CenterCrop(256) of each COCO photo",
            "unchanged size; the kit crops at a random place of the photo resized to 256–320 px and "
            "flips at random (few photos need the variety; COCO's 82 783 do not)"),
    Default("08", "training steps", 2 * -(-COCO2014_TRAIN_IMAGES // 4), _PYTORCH_FNS,
            "--epochs 2 at batch 4 over the COCO 2014 training images (82 783) that its README names",
            "2 · ⌈82 783/4⌉ = 41 392 optimiser steps (the kit counts steps; Johnson et al. sec. 4.1: "
            "40 000); the instructor trainer's default, not the notebook's profiles"),
    Default("08", "style image size", None, _PYTORCH_FNS, "--style-size None: the style file's own size",
            "None: the instructor trainer loads the file at its own size; the notebook's profiles load it "
            "at their display size (Gram matrices are divided by H·W, the brush-stroke scale still moves)"),
]

# ---------------------------------------------------------------------------- the table
DEFAULTS: list[Default] = [*GRADIENT_ASCENT, *ADVERSARIAL, *FEATURE_INVERSION, *DEEPDREAM,
                           *STYLE_TRANSFER, *FAST_STYLE]


def defaults(topic: str | None = None) -> list[Default]:
    """The rows of one topic (``"07"``), or every row."""
    return [d for d in DEFAULTS if topic is None or d.topic == topic]


def value(topic: str, name: str):
    """The kit's value of one default, by topic and name (raises ``KeyError`` listing the names)."""
    for d in defaults(topic):
        if d.name == name:
            return d.value
    names = ", ".join(repr(d.name) for d in defaults(topic)) or "none"
    raise KeyError(f"no default {name!r} for topic {topic}; there are: {names}")


def table(topic: str | None = None) -> str:
    """A plain-text table of the defaults: setting, kit value, reference value, source, conversion."""
    rows = defaults(topic)
    lines = []
    for d in rows:
        lines.append(f"{d.topic} · {d.name} = {d.value}")
        lines.append(f"     reference: {d.reference_value}  [{d.reference}]")
        lines.append(f"     conversion: {d.conversion}")
    return "\n".join(lines) if lines else f"no defaults recorded for topic {topic}"


def show(topic: str | None = None) -> None:
    """Print :func:`table` (used by the notebooks' set-up cells)."""
    print(table(topic))


if __name__ == "__main__":
    show(sys.argv[1] if len(sys.argv) > 1 else None)
