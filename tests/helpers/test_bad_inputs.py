"""The bad-input catalogue: every case gives the kit's own clear error (or a documented
conversion) that names the offending file or value — never a bare traceback from deep
inside PIL, torch or numpy."""
import pytest
import torch
from PIL import Image

from helpers import images, layers, models
from helpers.devices import get_profile
from helpers.errors import ImageLoadError, KitError
from helpers.optim import NonFiniteLossError, optimize_image


def _write(path, data):
    path.write_bytes(data)
    return path


def _jpeg_bytes(tmp_path):
    p = tmp_path / "ok.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(p)
    return p.read_bytes()


IMAGE_CASES = {
    "corrupt JPEG": lambda t: _write(t / "corrupt.jpg", b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50),
    "truncated JPEG": lambda t: _write(t / "half.jpg", _jpeg_bytes(t)[: len(_jpeg_bytes(t)) // 2]),
    "text file named .jpg": lambda t: _write(t / "notes.jpg", b"these are lecture notes, not pixels\n"),
    "empty file": lambda t: _write(t / "empty.png", b""),
    "directory": lambda t: (t / "folder.png").mkdir() or (t / "folder.png"),
    "missing file": lambda t: t / "no_such_photo.jpg",
}


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_unreadable_image_files_name_the_file(case, tmp_path):
    path = IMAGE_CASES[case](tmp_path)
    with pytest.raises(ImageLoadError) as err:
        images.load_image(path)
    assert path.name in str(err.value), str(err.value)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (400, 300)).save(path)
    with pytest.raises(ImageLoadError) as err:
        images.load_image(path, max_pixels=10_000)
    message = str(err.value)
    assert "big.png" in message and "120,000" in message.replace(" ", ",") or "120000" in message


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
def test_every_odd_image_mode_becomes_rgb(mode, tmp_path):
    suffix = ".tiff" if mode in ("CMYK", "I", "F") else ".png"
    path = tmp_path / f"odd{suffix}"
    Image.new(mode, (9, 7)).save(path)
    image = images.load_image(path)
    assert image.shape == (1, 3, 7, 9) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1


def test_one_pixel_image_is_a_documented_valid_input(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(path)
    assert images.load_image(path).shape == (1, 3, 1, 1)
    assert images.load_image(path, size=16).shape == (1, 3, 16, 16)
    vgg = models.load_model("squeezenet1_1", "random")
    with pytest.raises(ValueError, match="1×1 image is too small"):
        vgg(images.load_image(path))


@pytest.mark.parametrize("size", [-5, 0])
def test_non_positive_sizes_name_the_value(size):
    with pytest.raises(ValueError, match=str(size)):
        images.load_image("chelsea", size=size)


def test_unknown_sample_lists_valid_names():
    with pytest.raises(ImageLoadError, match="chelsea"):
        images.load_image("chelsey")


def test_unknown_model_layer_and_profile():
    with pytest.raises(ValueError, match="available: alexnet"):
        models.load_model("vgg17")
    with pytest.raises(ValueError, match="Valid names"):
        layers.resolve_layers("vgg16", ["relu6_1"])
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        get_profile("turbo")


def test_nan_in_an_objective_names_the_term_and_keeps_the_best_image():
    calls = {"n": 0}

    def objective(x):
        calls["n"] += 1
        style = (x - 0.3).pow(2).sum()
        content = x.sum() * (float("nan") if calls["n"] > 3 else 1.0)
        return {"style": style, "content": content}

    with pytest.raises(NonFiniteLossError) as err:
        optimize_image(objective, torch.full((1, 3, 8, 8), 0.5), steps=10, optimizer="adam", lr=0.01,
                       progress=False, on_nonfinite="raise")
    assert isinstance(err.value, KitError)
    assert "content" in str(err.value) and "style" not in str(err.value).split("content")[0][-20:]
    with pytest.warns(RuntimeWarning, match="content"):
        result = optimize_image(objective, torch.full((1, 3, 8, 8), 0.5), steps=10, optimizer="adam", lr=0.01,
                                progress=False)
    assert torch.isfinite(result.best_image).all() and "content" in result.stopped_reason
