"""Image loading, conversion, resizing, saving, samples and cached paintings."""
from __future__ import annotations

import dataclasses
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageFile

from helpers import images as im
from helpers import samples as S
from helpers.errors import DownloadError, ImageLoadError

TOL = 1 / 255 + 1e-6


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    """Every test gets an empty painting cache and the default data folder."""
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "kit-cache"))
    monkeypatch.delenv("KIT_DATA_DIR", raising=False)


def _pixel(t: torch.Tensor, y: int, x: int) -> np.ndarray:
    return t[0, :, y, x].numpy()


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _write(path: Path, img: Image.Image, fmt: str | None = None, **kw) -> Path:
    img.save(path, format=fmt, **kw)
    return path


# --------------------------------------------------------------------------- modes → RGB


def _palette_image(transparent: bool) -> Image.Image:
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 10, 200, 30] + [0, 0, 0] * 254)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    if transparent:
        img.info["transparency"] = 0  # palette index 0 is fully transparent
    return img


def _rgba() -> Image.Image:
    img = Image.new("RGBA", (2, 1))
    img.putpixel((0, 0), (255, 0, 0, 128))
    img.putpixel((1, 0), (0, 0, 255, 0))
    return img


def _la() -> Image.Image:
    img = Image.new("LA", (2, 1))
    img.putpixel((0, 0), (0, 255))
    img.putpixel((1, 0), (0, 51))
    return img


def _grey16(mode: str) -> Image.Image:
    values = np.array([[65535, 32768, 1000]], dtype=np.uint16)
    if mode == "I;16":
        return Image.fromarray(values)
    if mode == "I;16B":
        return Image.frombytes("I;16B", (3, 1), values.astype(">u2").tobytes())
    return Image.fromarray(values).convert("I")  # 32-bit integer mode holding 16-bit data


def _cmyk() -> Image.Image:
    img = Image.new("CMYK", (3, 1))
    img.putpixel((0, 0), (0, 0, 0, 0))        # no ink: white
    img.putpixel((1, 0), (255, 0, 0, 0))      # full cyan
    img.putpixel((2, 0), (0, 0, 0, 255))      # full black
    return img


def _bilevel() -> Image.Image:
    img = Image.new("1", (2, 1))
    img.putpixel((1, 0), 1)
    return img


WHITE, BLACK = [1, 1, 1], [0, 0, 0]
A128 = 128 / 255

# name, factory, file format (None: only in memory), expected RGB per x of row 0
MODE_CASES = [
    ("L", lambda: Image.fromarray(np.array([[0, 128, 255]], np.uint8)), "PNG",
     [BLACK, [128 / 255] * 3, WHITE]),
    ("LA over white", _la, "PNG", [BLACK, [1 - 51 / 255] * 3]),
    ("P", lambda: _palette_image(False), "PNG", [BLACK, [10 / 255, 200 / 255, 30 / 255]]),
    ("P transparent", lambda: _palette_image(True), "PNG", [WHITE, [10 / 255, 200 / 255, 30 / 255]]),
    ("RGBA over white", _rgba, "PNG", [[1, 1 - A128, 1 - A128], WHITE]),
    ("CMYK", _cmyk, "TIFF", [WHITE, [0, 1, 1], BLACK]),
    ("I;16", lambda: _grey16("I;16"), "PNG", [[1.0] * 3, [32768 / 65535] * 3, [1000 / 65535] * 3]),
    ("I;16B", lambda: _grey16("I;16B"), None, [[1.0] * 3, [32768 / 65535] * 3, [1000 / 65535] * 3]),
    ("I", lambda: _grey16("I"), "TIFF", [[1.0] * 3, [32768 / 65535] * 3, [1000 / 65535] * 3]),
    ("F", lambda: Image.fromarray(np.array([[0.0, 0.25, 1.0]], np.float32)), "TIFF",
     [BLACK, [0.25] * 3, WHITE]),
    ("1", _bilevel, "PNG", [BLACK, WHITE]),
]


@pytest.mark.parametrize("name,make,fmt,expected", MODE_CASES, ids=[c[0] for c in MODE_CASES])
def test_every_mode_converts_to_the_right_rgb_values(name, make, fmt, expected, tmp_path):
    img = make()
    sources = [img]
    if fmt is not None:
        sources.append(_write(tmp_path / f"img.{fmt.lower()}", img, fmt))
    for source in sources:
        out = im.load_image(source)
        assert out.shape == (1, 3, 1, len(expected)) and out.dtype == torch.float32
        for x, rgb in enumerate(expected):
            np.testing.assert_allclose(_pixel(out, 0, x), rgb, atol=TOL, err_msg=f"{name} x={x} from {source}")


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    path = _write(tmp_path / "deep.png", Image.fromarray(np.array([[300, 65535]], np.uint16)))
    out = im.load_image(path)
    assert out[0, 0, 0, 0].item() == pytest.approx(300 / 65535, abs=1e-6)  # clipping at 255 would give 1.0
    assert out[0, 0, 0, 1].item() == pytest.approx(1.0)


def test_rgb_with_transparent_colour_key_is_white(tmp_path):
    img = Image.new("RGB", (2, 1), (7, 8, 9))
    img.putpixel((1, 0), (200, 100, 50))
    path = _write(tmp_path / "key.png", img, "PNG", transparency=(7, 8, 9))
    out = im.load_image(path)
    np.testing.assert_allclose(_pixel(out, 0, 0), WHITE, atol=TOL)
    np.testing.assert_allclose(_pixel(out, 0, 1), [200 / 255, 100 / 255, 50 / 255], atol=TOL)


def test_lab_goes_through_a_real_colour_transform():
    rgb = Image.new("RGB", (1, 1), (200, 30, 60))
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    lab = ImageCms.applyTransform(rgb, to_lab)
    np.testing.assert_allclose(_pixel(im.from_pil(lab), 0, 0), [200 / 255, 30 / 255, 60 / 255], atol=6 / 255)


def test_wide_greyscale_rules():
    wide = Image.fromarray(np.array([[-10, 90, 190]], np.int32), mode="I")  # outside 0–65535: stretched
    np.testing.assert_allclose(im.from_pil(wide)[0, 0, 0].numpy(), [0, 0.5, 1], atol=1e-6)
    eight_bit_floats = Image.fromarray(np.array([[0.0, 51.0, 255.0]], np.float32))  # 0–255 data
    np.testing.assert_allclose(im.from_pil(eight_bit_floats)[0, 0, 0].numpy(), [0, 0.2, 1], atol=1e-6)


def test_file_objects_load_like_paths():
    buf = io.BytesIO(_png_bytes(Image.new("RGB", (3, 2), (0, 255, 0))))
    np.testing.assert_allclose(_pixel(im.load_image(buf), 1, 2), [0, 1, 0])


def test_unconvertible_mode_raises_value_error():
    with pytest.raises(ValueError, match="La"):
        im.from_pil(Image.new("La", (1, 1)))


def test_from_numpy_dtypes_and_alpha():
    np.testing.assert_allclose(im.from_numpy(np.full((1, 1), 65535, np.uint16))[0, :, 0, 0], 1.0)
    np.testing.assert_allclose(im.from_numpy(np.ones((1, 1), bool))[0, :, 0, 0], 1.0)
    np.testing.assert_allclose(im.from_numpy(np.full((1, 1, 1), 51, np.int64))[0, :, 0, 0], 0.2, atol=1e-6)
    rgba = np.array([[[255, 0, 0, 0]]], np.uint8)  # fully transparent red → white
    np.testing.assert_allclose(im.from_numpy(rgba)[0, :, 0, 0], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        im.from_numpy(np.full((2, 2, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="transpose"):
        im.from_numpy(np.zeros((3, 8, 9), np.float32))


# --------------------------------------------------------------------------- EXIF orientation


def _two_colour_jpeg(path: Path, orientation: int) -> Path:
    """A 32×16 (W×H) JPEG, left half red and right half blue, tagged with an EXIF orientation."""
    arr = np.zeros((16, 32, 3), np.uint8)
    arr[:, :16] = (255, 0, 0)
    arr[:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(path, quality=95, exif=exif.tobytes())
    return path


def _is_red(rgb) -> bool:
    return rgb[0] > 0.8 and rgb[2] < 0.2


def _is_blue(rgb) -> bool:
    return rgb[2] > 0.8 and rgb[0] < 0.2


@pytest.mark.parametrize("orientation,shape,red_at,blue_at", [
    (1, (16, 32), (8, 2), (8, 29)),    # as stored
    (6, (32, 16), (2, 8), (29, 8)),    # shown rotated 90° clockwise: the left half is on top
    (8, (32, 16), (29, 8), (2, 8)),    # 90° anticlockwise: the left half is at the bottom
    (3, (16, 32), (8, 29), (8, 2)),    # 180°
])
def test_exif_orientation_is_applied(tmp_path, orientation, shape, red_at, blue_at):
    out = im.load_image(_two_colour_jpeg(tmp_path / f"o{orientation}.jpg", orientation))
    assert tuple(out.shape[-2:]) == shape
    assert _is_red(_pixel(out, *red_at)) and _is_blue(_pixel(out, *blue_at))


def test_exif_orientation_of_an_opened_pil_image(tmp_path):
    with Image.open(_two_colour_jpeg(tmp_path / "pil.jpg", 6)) as img:
        out = im.load_image(img)
    assert tuple(out.shape[-2:]) == (32, 16) and _is_red(_pixel(out, 2, 8))


def test_resize_by_longest_side_after_exif_rotation(tmp_path):
    out = im.load_image(_two_colour_jpeg(tmp_path / "r.jpg", 6), 8)
    assert tuple(out.shape[-2:]) == (8, 4)


# --------------------------------------------------------------------------- sizes


def test_resize_keeps_aspect_ratio_within_a_pixel():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 900, size=2))
        size = int(rng.integers(1, 600))
        for by in ("longest", "shortest"):
            nh, nw = im.target_size(h, w, size, by)
            scale = size / (max(h, w) if by == "longest" else min(h, w))
            assert (max(nh, nw) if by == "longest" else min(nh, nw)) == size, (h, w, size, by)
            # each side is its exact proportional length, rounded (and at least one pixel)
            assert abs(nh - h * scale) <= 0.5 + 1e-9 or nh == 1, (h, w, size, by, nh)
            assert abs(nw - w * scale) <= 0.5 + 1e-9 or nw == 1, (h, w, size, by, nw)


@pytest.mark.parametrize("by,expected", [("longest", (30, 50)), ("shortest", (50, 83))])
def test_resize_tensor_and_load_agree(by, expected):
    x = torch.rand(1, 3, 60, 100)
    assert tuple(im.resize(x, 50, by=by).shape[-2:]) == expected
    assert tuple(im.load_image(x, 50, resize=by).shape[-2:]) == expected
    assert tuple(im.resize(x[0], 50, by=by).shape) == (3, *expected)  # rank kept


def test_resize_exact_pair_constant_and_gradient():
    x = torch.full((2, 3, 40, 40), 0.3, requires_grad=True)
    y = im.resize(x, (17, 23))
    assert y.shape == (2, 3, 17, 23)
    torch.testing.assert_close(y, torch.full_like(y, 0.3))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_downscaling_is_antialiased():
    # a one-pixel checkerboard must average to grey, not alias into stripes
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    board = ((yy + xx) % 2).float().expand(1, 3, 64, 64)
    small = im.resize(board, 8)
    assert (small - 0.5).abs().max() < 0.05


def test_large_jpeg_with_size_comes_out_at_the_size(tmp_path):
    arr = (np.random.default_rng(1).random((600, 1000, 3)) * 255).astype(np.uint8)
    path = _write(tmp_path / "big.jpg", Image.fromarray(arr), quality=90)
    assert tuple(im.load_image(path, 200).shape[-2:]) == (120, 200)
    assert tuple(im.load_image(path, 200, resize="shortest").shape[-2:]) == (200, 333)


def test_crops():
    x = torch.arange(5 * 7, dtype=torch.float32).reshape(1, 1, 5, 7).expand(1, 3, 5, 7)
    c = im.center_crop(x, 3)
    assert c.shape[-2:] == (3, 3) and c[0, 0, 0, 0] == x[0, 0, 1, 2]
    g = torch.Generator().manual_seed(3)
    r1 = im.random_crop(x, (2, 4), generator=g)
    r2 = im.random_crop(x, (2, 4), generator=torch.Generator().manual_seed(3))
    assert r1.shape[-2:] == (2, 4) and torch.equal(r1, r2)
    with pytest.raises(ValueError, match="larger than the image"):
        im.center_crop(x, 6)


# --------------------------------------------------------------------------- round trips and saving


def test_tensor_pil_round_trip_within_one_level():
    x = torch.rand(1, 3, 13, 17, generator=torch.Generator().manual_seed(0))
    pil = im.to_pil(x)
    assert pil.mode == "RGB" and pil.size == (17, 13)
    assert (im.from_pil(pil) - x).abs().max() <= 0.5 / 255 + 1e-6
    assert im.to_pil(x[0, :1]).mode == "L"


@pytest.mark.parametrize("suffix,tolerance", [(".png", 0.5 / 255 + 1e-6), (".jpg", 0.03)])
def test_save_then_load_round_trip(tmp_path, suffix, tolerance):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 32), indexing="ij")
    x = torch.stack([yy, xx, (yy + xx) / 2])  # smooth, so JPEG keeps it close
    path = im.save_image(x, tmp_path / "deep" / "nested" / f"out{suffix}")
    assert path.is_file()
    back = im.load_image(path)
    assert back.shape == (1, 3, 24, 32)
    assert (back[0] - x).abs().mean() <= tolerance


def test_save_clamps_and_checks_suffix(tmp_path):
    x = torch.tensor([-1.0, 0.5, 2.0]).view(1, 3, 1, 1)
    back = im.load_image(im.save_image(x, tmp_path / "c.png"))
    np.testing.assert_allclose(_pixel(back, 0, 0), [0, 128 / 255, 1], atol=TOL)
    with pytest.raises(ValueError, match="out.xyz"):
        im.save_image(x, tmp_path / "out.xyz")
    with pytest.raises(ValueError, match="batch of 2"):
        im.save_image(torch.zeros(2, 3, 4, 4), tmp_path / "b.png")


# --------------------------------------------------------------------------- decompression bombs


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width×height`` but which holds (almost) no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_bomb_guard_triggers_before_decoding(tmp_path, monkeypatch):
    path = _write(tmp_path / "modest.png", Image.new("RGB", (100, 80), (1, 2, 3)))
    decoded = []
    original = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1) or original(self))
    with pytest.raises(ImageLoadError) as info:
        im.load_image(path, max_pixels=5000)
    message = str(info.value)
    assert decoded == [], "pixel data was decoded before the size check"
    assert "modest.png" in message and "8,000 pixels" in message and "100×80" in message
    assert "5,000" in message and "max_pixels" in message
    assert im.load_image(path, max_pixels=8000).shape == (1, 3, 80, 100)  # at the limit: allowed


@pytest.mark.parametrize("width,height", [(8000, 8000), (20000, 20000), (100000, 100000)])
def test_bomb_guard_on_crafted_headers(tmp_path, width, height):
    # 64 Mpx: above our default only; 400 Mpx / 10 Gpx: above PIL's own limits too
    path = tmp_path / "claims_huge.png"
    path.write_bytes(_png_header_only(width, height))
    started = time.perf_counter()
    with pytest.raises(ImageLoadError) as info:
        im.load_image(path)
    assert time.perf_counter() - started < 2.0
    message = str(info.value)
    assert "claims_huge.png" in message and f"{width * height:,}" in message
    assert f"{im.DEFAULT_MAX_PIXELS:,}" in message and "max_pixels" in message


def test_raising_the_limit_above_pils_own_is_honoured(tmp_path):
    path = tmp_path / "claims_huge.png"
    path.write_bytes(_png_header_only(20000, 20000))  # 400 Mpx > 2 × PIL's limit
    limit_before = Image.MAX_IMAGE_PIXELS
    # past both limits now, the header-only file fails at decoding, not at the guard
    with pytest.raises(ImageLoadError, match="could not decode"):
        im.load_image(path, max_pixels=500_000_000)
    assert Image.MAX_IMAGE_PIXELS == limit_before


# --------------------------------------------------------------------------- bad inputs


def _valid_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _bad_case(kind: str, tmp_path: Path):
    """Return ``(source, load kwargs, exception type, substrings the message must contain)``."""
    if kind == "corrupt jpeg":
        p = tmp_path / "corrupt.jpg"
        data = bytearray(_valid_jpeg())
        data[200:] = bytes(len(data) - 200)  # keep the header, zero the rest
        p.write_bytes(bytes(data[:600]))
        return p, {}, ImageLoadError, ["corrupt.jpg"]
    if kind == "truncated jpeg":
        p = tmp_path / "half.jpg"
        data = _valid_jpeg()
        p.write_bytes(data[: len(data) // 2])
        return p, {}, ImageLoadError, ["half.jpg", "truncated"]
    if kind == "truncated png":
        p = tmp_path / "half.png"
        data = _png_bytes(Image.fromarray((np.random.default_rng(3).random((64, 64, 3)) * 255).astype(np.uint8)))
        p.write_bytes(data[: len(data) // 2])
        return p, {}, ImageLoadError, ["half.png", "truncated"]
    if kind == "text named jpg":
        p = tmp_path / "notes.jpg"
        p.write_text("these are my lecture notes, not a picture\n")
        return p, {}, ImageLoadError, ["notes.jpg", "text"]
    if kind == "html named jpg":
        p = tmp_path / "page.jpg"
        p.write_text("<!DOCTYPE html><html><body>404</body></html>")
        return p, {}, ImageLoadError, ["page.jpg", "HTML"]
    if kind == "empty file":
        p = tmp_path / "empty.png"
        p.write_bytes(b"")
        return p, {}, ImageLoadError, ["empty.png", "empty"]
    if kind == "directory":
        p = tmp_path / "folder.png"
        p.mkdir()
        return p, {}, ImageLoadError, ["folder.png", "directory"]
    if kind == "missing file":
        return tmp_path / "nowhere" / "gone.jpg", {}, ImageLoadError, ["gone.jpg", "not found", "chelsea"]
    if kind == "negative size":
        return "chelsea", {"size": -5}, ValueError, ["-5"]
    if kind == "zero size":
        return "chelsea", {"size": 0}, ValueError, ["size", "0"]
    if kind == "fractional size":
        return "chelsea", {"size": 12.5}, ValueError, ["12.5"]
    if kind == "bad resize mode":
        return "chelsea", {"size": 10, "resize": "widest"}, ValueError, ["widest", "longest"]
    if kind == "unknown sample name":
        return "chelsee", {}, ImageLoadError, ["chelsee", "astronaut", "starry_night", "Did you mean 'chelsea'"]
    if kind == "bomb":
        p = tmp_path / "bomb.png"
        p.write_bytes(_png_header_only(30000, 30000))
        return p, {}, ImageLoadError, ["bomb.png", "900,000,000", "max_pixels"]
    raise AssertionError(kind)


BAD_KINDS = ["corrupt jpeg", "truncated jpeg", "truncated png", "text named jpg", "html named jpg",
             "empty file", "directory", "missing file", "negative size", "zero size", "fractional size",
             "bad resize mode", "unknown sample name", "bomb"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_catalogue(kind, tmp_path):
    source, kwargs, error, needles = _bad_case(kind, tmp_path)
    with pytest.raises(error) as info:
        im.load_image(source, **kwargs)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{kind}: {needle!r} missing from: {message}"
    if isinstance(source, Path) and error is ImageLoadError:
        assert isinstance(info.value, ValueError)  # ImageLoadError is a ValueError too
    if kind in ("corrupt jpeg", "truncated png", "text named jpg"):
        assert info.value.__cause__ is not None  # the PIL error is chained, not lost


def test_one_pixel_image_loads_and_resizes(tmp_path):
    path = _write(tmp_path / "dot.png", Image.new("RGB", (1, 1), (10, 20, 30)))
    out = im.load_image(path)
    assert out.shape == (1, 3, 1, 1)
    big = im.load_image(path, 8)
    assert big.shape == (1, 3, 8, 8)
    np.testing.assert_allclose(big[0, :, 4, 4], [10 / 255, 20 / 255, 30 / 255], atol=TOL)


# --------------------------------------------------------------------------- bundled samples


def test_every_sample_loads_small_and_rgb():
    names = S.samples()
    assert set(S.samples("content")) == {"astronaut", "chelsea", "coffee", "rocket"}
    assert set(S.samples("content")) | set(S.samples("texture")) == set(names)
    for name in names:
        x = im.load_image(name)
        assert x.shape[:2] == (1, 3) and max(x.shape[-2:]) <= 512 and min(x.shape[-2:]) >= 100
        assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.02
    grey = im.load_image("brick")
    torch.testing.assert_close(grey[:, 0], grey[:, 1])


def test_sample_files_are_documented_and_small():
    folder = S.data_dir()
    licences = (folder / "LICENSES.md").read_text(encoding="utf-8")
    for sample in S.SAMPLES.values():
        assert f"`{sample.filename}`" in licences, sample.filename
        assert sample.licence and sample.author and sample.origin and sample.changes
    for painting in S.PAINTINGS.values():
        assert f"`{painting.name}`" in licences
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total < 2_000_000


def test_sample_lookup_options(monkeypatch, tmp_path):
    wood = (S.data_dir() / "wood.jpg").read_bytes()
    assert "chelsea" in S.list_samples() and S.list_samples("texture").keys() == set(S.samples("texture"))
    assert im.load_image("Chelsea").shape == im.load_image("chelsea").shape
    with pytest.raises(ValueError, match="kind"):
        S.samples("paintings")
    monkeypatch.setenv("KIT_DATA_DIR", str(tmp_path / "no-such-folder"))
    with pytest.raises(ImageLoadError, match="KIT_DATA_DIR"):
        im.load_image("chelsea")
    copy = tmp_path / "mirror"
    copy.mkdir()
    (copy / "wood.jpg").write_bytes(wood)
    monkeypatch.setenv("KIT_DATA_DIR", str(copy))
    assert im.load_image("wood").shape == (1, 3, 290, 115)
    with pytest.raises(ImageLoadError, match="chelsea.*missing"):
        im.load_image("chelsea")


# --------------------------------------------------------------------------- paintings


def _serve_file(monkeypatch, name: str, path: Path) -> None:
    monkeypatch.setitem(S.PAINTINGS, name, dataclasses.replace(S.PAINTINGS[name], url=path.resolve().as_uri()))


def _unreachable(monkeypatch, name: str) -> None:
    monkeypatch.setitem(S.PAINTINGS, name, dataclasses.replace(S.PAINTINGS[name], url="http://127.0.0.1:9/x.jpg"))


def test_painting_registry_is_complete():
    assert {"starry_night", "great_wave", "the_scream", "composition_vii"} <= set(S.PAINTINGS)
    for p in S.PAINTINGS.values():
        assert p.title and p.artist and p.year and "public domain" in p.status
        assert p.url.startswith("https://commons.wikimedia.org/wiki/Special:FilePath/") and "width=" in p.url
        assert p.source_page.startswith("https://commons.wikimedia.org/wiki/File:")
        assert " " not in p.url


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "c"))
    assert im.cache_dir() == tmp_path / "c" / "paintings"
    monkeypatch.delenv("KIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert im.cache_dir() == tmp_path / "xdg" / "cnn-kit" / "paintings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert im.cache_dir() == Path.home() / ".cache" / "cnn-kit" / "paintings"


def test_painting_is_fetched_once_into_the_cache(monkeypatch, tmp_path):
    source = _write(tmp_path / "mirror.png", Image.new("RGB", (40, 30), (200, 150, 20)))
    _serve_file(monkeypatch, "starry_night", source)
    out = im.load_image("starry_night", 20)
    assert out.shape == (1, 3, 15, 20)
    np.testing.assert_allclose(_pixel(out, 7, 10), [200 / 255, 150 / 255, 20 / 255], atol=TOL)
    cached = S.painting_cache_path("starry_night")
    assert cached == im.cache_dir() / "starry_night.jpg" and cached.is_file()
    assert [p.name for p in cached.parent.iterdir()] == ["starry_night.jpg"]  # no temp files left
    _unreachable(monkeypatch, "starry_night")  # second use needs no network
    assert im.load_image("Starry Night").shape == (1, 3, 30, 40)


def test_unreachable_painting_fails_fast_with_a_useful_message(monkeypatch):
    _unreachable(monkeypatch, "great_wave")
    started = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        im.load_image("great_wave")
    assert time.perf_counter() - started < 5.0
    message = str(info.value)
    target = S.painting_cache_path("great_wave")
    for needle in ("great_wave", "The Great Wave off Kanagawa", "http://127.0.0.1:9/x.jpg", str(target),
                   "commons.wikimedia.org/wiki/File:", "hubble", "python -m helpers download paintings"):
        assert needle in message, needle
    assert not target.exists() and not any(target.parent.glob("*.part"))


def test_download_that_is_not_an_image_is_refused(monkeypatch, tmp_path):
    page = tmp_path / "error.html"
    page.write_text("<!DOCTYPE html><html>rate limited</html>")
    _serve_file(monkeypatch, "the_scream", page)
    with pytest.raises(DownloadError, match="not a readable image"):
        im.load_image("the_scream")
    assert not S.painting_cache_path("the_scream").exists()
    assert not any(im.cache_dir().glob("*.part"))


def test_download_over_the_pixel_limit_is_refused(monkeypatch, tmp_path):
    _serve_file(monkeypatch, "the_scream", _write(tmp_path / "big.png", Image.new("RGB", (40, 30), "red")))
    monkeypatch.setattr(S, "MAX_DOWNLOAD_PIXELS", 40 * 30 - 1)
    with pytest.raises(DownloadError, match="40×30 pixels, more than the limit"):
        im.load_image("the_scream")
    assert not S.painting_cache_path("the_scream").exists()


def test_did_you_mean_names_close_registry_keys():
    assert S.did_you_mean("Starry-Nite", S.PAINTINGS) == " Did you mean 'starry_night'?"
    assert S.did_you_mean("zzz", S.PAINTINGS) == ""


def test_hand_placed_painting_is_used_offline(monkeypatch):
    _unreachable(monkeypatch, "composition_vii")
    with pytest.raises(DownloadError, match="download=False"):
        S.painting_path("composition_vii", download=False)
    target = S.painting_cache_path("composition_vii")
    target.parent.mkdir(parents=True)
    _write(target, Image.new("RGB", (6, 4), (0, 0, 255)), "PNG")  # any format under the .jpg name
    np.testing.assert_allclose(_pixel(im.load_image("composition_vii"), 1, 1), [0, 0, 1], atol=TOL)


def test_corrupt_cached_painting_is_fetched_again(monkeypatch, tmp_path):
    target = S.painting_cache_path("impression_sunrise")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\xff\xd8\xff garbage")
    _serve_file(monkeypatch, "impression_sunrise", _write(tmp_path / "m.png", Image.new("RGB", (5, 5), "red")))
    assert im.load_image("impression_sunrise").shape == (1, 3, 5, 5)
    with Image.open(target) as cached:
        assert cached.size == (5, 5)
