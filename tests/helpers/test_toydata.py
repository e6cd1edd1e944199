"""The procedural data set: shapes, determinism, balance, and that the mask marks the pattern."""
from __future__ import annotations

import pytest
import torch

from helpers.toydata import CLASSES, make_dataset, render


def test_shapes_dtypes_and_ranges():
    for size in (32, 48):
        images, labels, masks = make_dataset(40, size=size, seed=0, return_masks=True)
        assert images.shape == (40, 3, size, size) and images.dtype == torch.float32
        assert labels.shape == (40,) and labels.dtype == torch.int64
        assert masks.shape == (40, size, size) and masks.dtype == torch.bool
        assert images.min() >= 0.0 and images.max() <= 1.0
        assert labels.min() >= 0 and labels.max() < len(CLASSES)
    assert len(make_dataset(10, seed=0)) == 2  # no masks unless asked for


def test_same_seed_same_data_and_other_seed_differs():
    a = make_dataset(64, seed=3, return_masks=True)
    b = make_dataset(64, seed=3, return_masks=True)
    c = make_dataset(64, seed=4, return_masks=True)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[1], c[1])
    assert not torch.equal(a[2], c[2])


def test_global_rng_state_untouched():
    before = torch.get_rng_state()
    make_dataset(32, seed=1)
    render("rings", 32, torch.Generator().manual_seed(0), n=4)
    assert torch.equal(before, torch.get_rng_state())


def test_classes_are_balanced_and_shuffled():
    _, labels = make_dataset(800, seed=0)
    assert torch.bincount(labels, minlength=len(CLASSES)).tolist() == [100] * len(CLASSES)
    _, labels = make_dataset(83, seed=0)
    counts = torch.bincount(labels, minlength=len(CLASSES))
    assert counts.max() - counts.min() <= 1
    # not in class order: fewer than half of neighbouring pairs follow label k -> k+1
    cyclic = ((labels[1:] - labels[:-1]) % len(CLASSES) == 1).float().mean()
    assert cyclic < 0.5


def test_masks_cover_stated_fraction():
    _, _, masks = make_dataset(800, seed=0, return_masks=True)
    frac = masks.float().mean(dim=(1, 2))
    # regions are drawn at 30–60 % of the image; rasterising them on pixel centres
    # gives 27.3–62.9 % (seeds 0–2, 800 images each)
    assert frac.min() >= 0.25 and frac.max() <= 0.66
    assert 0.42 <= frac.mean() <= 0.48  # measured 0.449–0.459


def _background_colour(images, masks):
    """Per-image median colour outside the mask: ``[n, 3]``."""
    outside = images.masked_fill(masks.unsqueeze(1), float("nan"))
    return outside.flatten(2).nanmedian(dim=2).values


def test_pattern_differs_from_background_inside_mask():
    images, _, masks = make_dataset(400, seed=1, return_masks=True)
    bg = _background_colour(images, masks).view(-1, 3, 1, 1)
    dist = (images - bg).abs().mean(dim=1)                           # [n, H, W]
    inside = (dist * masks).sum((1, 2)) / masks.sum((1, 2))
    outside = (dist * ~masks).sum((1, 2)) / (~masks).sum((1, 2))
    # measured on 800 images each of seeds 0–2: inside >= 0.121, outside <= 0.033 (noise only)
    assert inside.min() > 0.09
    assert outside.max() < 0.045


def _spatial_std(images, masks):
    """Per-image colour standard deviation over the pixels in ``masks``: ``[n]``."""
    m = masks.unsqueeze(1).float()
    count = m.sum((2, 3))
    mean = (images * m).sum((2, 3)) / count
    var = (((images - mean[..., None, None]) ** 2) * m).sum((2, 3)) / count
    return var.sum(1).sqrt()


def test_texture_lives_inside_the_mask():
    images, _, masks = make_dataset(400, seed=2, return_masks=True)
    ratio = _spatial_std(images, masks) / _spatial_std(images, ~masks)
    assert ratio.min() > 1.5  # measured min 2.20 over seeds 0–2; background is plain + weak noise


def test_colour_alone_does_not_give_away_the_class():
    images, labels = make_dataset(1600, seed=0)
    mean_colour = images.mean(dim=(2, 3))                               # [n, 3]
    train, test = slice(0, 800), slice(800, None)
    centroids = torch.stack([mean_colour[train][labels[train] == k].mean(0) for k in range(len(CLASSES))])
    pred = torch.cdist(mean_colour[test], centroids).argmin(1)
    acc = (pred == labels[test]).float().mean().item()
    # chance is 1/8 = 0.125; nearest-centroid on mean colour measured 0.149–0.159
    assert acc < 0.25


@pytest.mark.parametrize("name", CLASSES)
def test_render_each_class(name):
    images, masks = render(name, 40, torch.Generator().manual_seed(5), n=3)
    assert images.shape == (3, 3, 40, 40) and masks.shape == (3, 40, 40)
    assert images.min() >= 0 and images.max() <= 1
    assert masks.any(dim=(1, 2)).all() and (~masks).any(dim=(1, 2)).all()


def test_unknown_class_lists_valid_names():
    with pytest.raises(ValueError, match="stripes"):
        render("spirals", 32)
