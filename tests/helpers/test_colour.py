import torch

from helpers.colour import (
    combine_luminance,
    grey_rgb,
    luminance,
    match_histogram,
    match_luminance,
    rgb_to_yiq,
    yiq_to_rgb,
)


def test_grey_rgb_has_equal_channels_equal_to_luminance():
    x = torch.rand(2, 3, 5, 6)
    g = grey_rgb(x)
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])
    assert torch.allclose(g[:, :1], luminance(x))


def test_combined_image_has_stylised_luminance_and_content_chrominance():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 8, 8, generator=g) * 0.5 + 0.25
    stylised = torch.rand(1, 3, 8, 8, generator=g) * 0.5 + 0.25
    out = combine_luminance(stylised, content)
    yiq_out, yiq_content = rgb_to_yiq(out), rgb_to_yiq(content)
    assert torch.allclose(yiq_out[:, :1], luminance(stylised), atol=1e-5)
    assert torch.allclose(yiq_out[:, 1:], yiq_content[:, 1:], atol=1e-5)


def test_matched_style_luminance_takes_the_content_histogram():
    style = torch.linspace(0, 1, 64).view(1, 1, 8, 8).expand(1, 3, 8, 8) ** 3
    content = torch.full((1, 3, 8, 8), 0.7) + torch.linspace(-0.1, 0.1, 64).view(1, 1, 8, 8)
    matched = match_luminance(style, content)
    assert abs(luminance(matched).mean() - luminance(content).mean()) < 0.02


# --------------------------------------------------------------------------- YIQ and histograms


def test_yiq_round_trip_property():
    g = torch.Generator().manual_seed(0)
    for shape in [(3, 1, 1), (1, 3, 7, 5), (4, 3, 16, 9)]:
        x = torch.rand(shape, generator=g)
        torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-5, rtol=0)
        y = rgb_to_yiq(x)
        assert y[..., 0, :, :].min() >= 0 and y[..., 0, :, :].max() <= 1 + 1e-6
        assert y[..., 1, :, :].abs().max() <= 0.5958 and y[..., 2, :, :].abs().max() <= 0.5226


def test_grey_has_no_chroma_and_luma_equals_grey():
    grey = torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(1, 3, 2, 11)
    yiq = rgb_to_yiq(grey)
    torch.testing.assert_close(yiq[:, 0], grey[:, 0], atol=1e-6, rtol=0)
    assert yiq[:, 1:].abs().max() < 1e-5
    assert luminance(grey).shape == (1, 1, 2, 11)


def test_match_histogram_recovers_a_monotone_colour_map():
    g = torch.Generator().manual_seed(1)
    source = torch.rand(1, 3, 20, 30, generator=g)
    reference = (source * torch.tensor([0.5, 0.2, 0.9]).view(1, 3, 1, 1) + 0.05) ** 1.5
    out = match_histogram(source, reference)
    assert out.shape == source.shape and out.dtype == source.dtype
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)
    assert match_histogram(source[0], reference).shape == source[0].shape
