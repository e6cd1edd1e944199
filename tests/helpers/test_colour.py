import torch

from helpers.colour import combine_luminance, grey_rgb, match_luminance
from helpers.images import luminance, rgb_to_yiq


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
