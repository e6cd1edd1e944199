"""What notebook 01's reference ``receptive_field`` does on real layer stacks.

The notebook crops each unit's receptive field to show maximally activating patches
(Zeiler & Fergus 2014), so the answer must agree with the architecture tables and with
where a unit's gradient actually reaches in the input image.
"""
from __future__ import annotations

import pytest
import torch
from solution_code import solution_namespace
from torch import nn

from helpers import models, patches
from helpers.architecture import summarize


@pytest.fixture(scope="module")
def receptive_field():
    return solution_namespace("01_cnn_recap")["receptive_field"]


@pytest.mark.parametrize("name", ["alexnet", "vgg16"])
def test_answer_matches_the_architecture_table(receptive_field, name):
    model = models.load_model(name, "random")
    for row in summarize(model):
        if row.kind == "fc":
            break
        size, _ = receptive_field(patches.conv_layers(model, row.name))
        assert min(size, 224) == row.receptive_field, row.name


def test_fields_placed_with_the_answer_are_where_the_gradient_reaches(receptive_field):
    """All-ones convolutions and average pooling with AlexNet's geometry up to conv4: the
    gradient of a unit is positive exactly on its field, cut off at the image border."""
    stack = [nn.Conv2d(1, 1, 11, 4, 2), nn.AvgPool2d(3, 2), nn.Conv2d(1, 1, 5, 1, 2), nn.AvgPool2d(3, 2),
             nn.Conv2d(1, 1, 3, 1, 1), nn.Conv2d(1, 1, 3, 1, 1)]
    net = nn.Sequential(*stack).double()
    with torch.no_grad():
        for m in stack:
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
    layers = [patches.layer_geometry(m) for m in stack]
    size, jump = receptive_field(layers)
    shift = sum(p * receptive_field(layers[:n])[1] for n, (_, _, p, _) in enumerate(layers))
    assert (size, jump, shift) == (131, 16, 2 + 2 * 8 + 1 * 16 + 1 * 16)
    image = torch.ones(1, 1, 224, 224, dtype=torch.float64, requires_grad=True)
    out = net(image)
    for row, col in [(0, 0), (6, 6), (12, 3)]:
        (grad,) = torch.autograd.grad(out[0, 0, row, col], image, retain_graph=True)
        ys, xs = torch.nonzero(grad[0, 0] > 0, as_tuple=True)
        top, left = row * jump - shift, col * jump - shift
        assert (int(ys.min()), int(ys.max())) == (max(top, 0), min(top + size - 1, 223)), (row, col)
        assert (int(xs.min()), int(xs.max())) == (max(left, 0), min(left + size - 1, 223)), (row, col)
