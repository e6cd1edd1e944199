"""helpers.patches: layer geometry walked from real networks, top positions, square crops.

The receptive-field recurrence is notebook 01's exercise, so the kit holds no copy; the
tests below write it (and the notebook's placement of a field) themselves and check both
against where a unit's gradient actually reaches in the input.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import models, patches, toynet


def reference_receptive_field(layers):
    """size ← size + (k − 1)·d·jump, jump ← jump·s from (1, 1) (Araujo et al. 2019)."""
    size, jump = 1, 1
    for k, s, _, d in layers:
        size, jump = size + (k - 1) * d * jump, jump * s
    return size, jump


def reference_box(layers, row, col):
    """Top, left and side of the field of unit (row, col), as notebook 01 places it."""
    size, jump = reference_receptive_field(layers)
    shift = sum(p * reference_receptive_field(layers[:n])[1] for n, (_, _, p, _) in enumerate(layers))
    return row * jump - shift, col * jump - shift, size


def test_layer_geometry_of_each_kind():
    assert patches.layer_geometry(nn.Conv2d(3, 4, 5, stride=2, padding=1, dilation=3)) == (5, 2, 1, 3)
    assert patches.layer_geometry(nn.MaxPool2d(3, 2)) == (3, 2, 0, 1)
    assert patches.layer_geometry(nn.AvgPool2d(2, padding=1)) == (2, 2, 1, 1)
    for pointwise in (nn.ReLU(), nn.BatchNorm2d(3), nn.Dropout(), nn.LocalResponseNorm(5)):
        assert patches.layer_geometry(pointwise) is None
    with pytest.raises(ValueError, match="fixed square window"):
        patches.layer_geometry(nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ValueError, match="differs between the axes"):
        patches.layer_geometry(nn.Conv2d(3, 4, (3, 5)))
    with pytest.raises(ValueError, match="not a number of pixels"):
        patches.layer_geometry(nn.Conv2d(3, 4, 3, padding="same"))


def test_conv_layers_of_alexnet_and_vgg_and_the_toy_network():
    alexnet = models.load_model("alexnet", "random")
    conv1, pool, conv2 = (11, 4, 2, 1), (3, 2, 0, 1), (5, 1, 2, 1)
    assert patches.conv_layers(alexnet, "conv2") == [conv1, pool, conv2]
    assert patches.conv_layers(alexnet, "relu2") == [conv1, pool, conv2]
    assert patches.conv_layers(alexnet, "features.3") == [conv1, pool, conv2]
    assert patches.conv_layers(alexnet, "pool5")[-1] == pool and len(patches.conv_layers(alexnet, "pool5")) == 8
    assert reference_receptive_field(patches.conv_layers(alexnet, "pool5")) == (195, 32)
    with pytest.raises(ValueError, match="not inside `features`"):
        patches.conv_layers(alexnet, "fc7")
    with pytest.raises(ValueError, match="conv9"):
        patches.conv_layers(alexnet, "conv9")
    vgg = models.load_model("vgg16", "random")
    assert reference_receptive_field(patches.conv_layers(vgg, "conv5_3")) == (196, 16)
    toy = toynet.random_toynet(0)
    assert patches.conv_layers(toy, "relu3") == [(3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 1, 1)]


@pytest.mark.parametrize("stack", [
    [nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, padding=1)],
    [nn.Conv2d(1, 1, 5, stride=2, padding=2), nn.AvgPool2d(3, stride=2, padding=1),
     nn.Conv2d(1, 1, 3, padding=2, dilation=2)],
    [nn.Conv2d(1, 1, 4, stride=3), nn.Conv2d(1, 1, 3, stride=2, padding=1)],
])
def test_the_field_is_where_the_gradient_reaches(stack):
    """Every weight 1 and average pooling: a unit's gradient is positive exactly on its field
    (dilation leaves holes, so compare bounding boxes), cut off at the image border."""
    net = nn.Sequential(*stack).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
    layers = [g for g in (patches.layer_geometry(m) for m in stack) if g is not None]
    image = torch.ones(1, 1, 61, 61, dtype=torch.float64, requires_grad=True)
    out = net(image)
    h, w = out.shape[-2:]
    for row, col in [(0, 0), (h // 2, w // 3), (h - 1, w - 1)]:
        (grad,) = torch.autograd.grad(out[0, 0, row, col], image, retain_graph=True)
        ys, xs = torch.nonzero(grad[0, 0] > 0, as_tuple=True)
        top, left, size = reference_box(layers, row, col)
        assert (int(ys.min()), int(ys.max())) == (max(top, 0), min(top + size - 1, 60)), (row, col)
        assert (int(xs.min()), int(xs.max())) == (max(left, 0), min(left + size - 1, 60)), (row, col)


def test_top_positions_are_strongest_first_and_spread_out():
    acts = torch.zeros(2, 5, 5)
    acts[0, 2, 2], acts[0, 2, 3], acts[1, 0, 4], acts[0, 4, 0] = 9.0, 8.0, 7.0, 6.0
    assert patches.top_positions(acts, 3) == [(0, 2, 2, 9.0), (0, 2, 3, 8.0), (1, 0, 4, 7.0)]
    spread = patches.top_positions(acts, 3, min_distance=2)
    assert spread == [(0, 2, 2, 9.0), (1, 0, 4, 7.0), (0, 4, 0, 6.0)]    # (0, 2, 3) is next to (0, 2, 2)
    assert len(patches.top_positions(torch.rand(1, 2, 2), 10)) == 4       # no more positions than there are
    before = acts.clone()
    patches.top_positions(acts, 5, min_distance=3)
    assert torch.equal(acts, before)
    with pytest.raises(ValueError, match=r"\[N, h, w\]"):
        patches.top_positions(torch.rand(1, 2, 3, 3), 2)


def test_crop_square_inside_across_the_border_and_outside():
    image = torch.arange(3 * 6 * 8, dtype=torch.float32).view(1, 3, 6, 8)
    assert torch.equal(patches.crop_square(image, 1, 2, 3), image[0, :, 1:4, 2:5])
    edge = patches.crop_square(image[0], -2, 6, 4, fill=[0.1, 0.2, 0.3])
    assert edge.shape == (3, 4, 4)
    assert torch.equal(edge[:, 2:, :2], image[0, :, 0:2, 6:8])
    assert torch.allclose(edge[:, :2, :], torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1).expand(3, 2, 4))
    assert torch.allclose(edge[:, :, 2:], torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1).expand(3, 4, 2))
    assert torch.equal(patches.crop_square(image, 10, 10, 2), torch.full((3, 2, 2), 0.5))
