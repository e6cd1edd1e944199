"""Every default of the pretrained (ImageNet) path, with the reference it comes from.

Each :class:`Default` names the published code or paper a setting is taken from, the
value there in that reference's own units, the value in the kit's units (images
``[B, 3, H, W]`` in [0, 1], the kit's loss functions as the notebooks define them) and
how one becomes the other. ``tests/test_reference_units.py`` re-implements each
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
    Default("07", "image size (gpu profile)", 512, _GATYS_CODE, "img_size = 512", "unchanged (pixels)"),
    Default("07", "L-BFGS iterations (gpu profile)", 500, _GATYS_CODE, "max_iter = 500", "unchanged"),
    Default("06", "texture layer weights w_l", "4/N_l² for relu1_1 … relu5_1 (as 07's style term)",
            _GATYS_CODE, "style_weights = [1e3/n**2 …] on MSE of Gram/(h·w)",
            "the same per-layer balance as 07; one term only, so the overall factor 1e3 is left out"),
]

# --------------------------------------------------------------------------- 02 gradient ascent
GRADIENT_ASCENT: list[Default] = [
    # rows for 02 (CS231n, Yosinski et al.) go here
]

# --------------------------------------------------------------------------- 03 adversarial examples
ADVERSARIAL: list[Default] = [
    # rows for 03 (Goodfellow et al.) go here
]

# --------------------------------------------------------------------------- 04 feature inversion
FEATURE_INVERSION: list[Default] = [
    # rows for 04 (Mahendran & Vedaldi, nnpreimage) go here
]

# --------------------------------------------------------------------------- 05 DeepDream
DEEPDREAM: list[Default] = [
    # rows for 05 (google/deepdream) go here
]

# --------------------------------------------------------------------------- 08 fast style transfer
FAST_STYLE: list[Default] = [
    # rows for 08 (pytorch/examples fast_neural_style, Johnson et al.) go here
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
