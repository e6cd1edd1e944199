"""Images: convert, resize, crop and save; load by path or name (see :mod:`helpers.imageio`).

Pixel contract: a tensor image is ``float32 [B, 3, H, W]`` (or ``[3, H, W]``) in
``[0, 1]``, RGB. Everything here converts to or from that.

Loading (:func:`load_image`) accepts a file path, a bundled sample name
(``"chelsea"``, see :func:`list_samples`), a painting name (``"starry_night"``, fetched
once into :func:`cache_dir`, see :func:`list_paintings`), a PIL image, a NumPy array or a
tensor. Every PIL mode becomes RGB by the same rules (see :func:`from_pil`):

* transparent images (RGBA, LA, PA, P or L/RGB with a transparency key) are composited
  over **white**, as they look on a page or a slide;
* 16-bit greyscale (``I;16``, ``I;16B``, ...) keeps its full range: 65535 → 1.0;
* CMYK, YCbCr, HSV and LAB go through PIL's (or LittleCMS's) converters; an embedded
  ICC profile is honoured when present;
* bilevel (``1``) and greyscale images are replicated to three equal channels.

Sizes, one rule everywhere in the kit: a pair ``(H, W)`` is exact; an int is the
**longest side** wherever an existing image is scaled with its aspect ratio kept
(:func:`load_image`, :func:`resize`, a ``schedule`` of :func:`helpers.optim.optimize_image`),
and the **side of a square** wherever a new canvas is made (:func:`center_crop`,
:func:`random_crop`, :func:`helpers.wei_levoy.synthesize`'s output). :func:`resize` is the
one resampling (bicubic, antialiased) every module uses.

Files are read by :func:`helpers.imageio.opened`, which checks them against a pixel limit
(:data:`DEFAULT_MAX_PIXELS`) from the header, before any pixel data is decoded, to refuse
decompression bombs. Colour transforms (YIQ, luminance, histogram matching) are in
:mod:`helpers.colour`.
"""
from __future__ import annotations

import functools
import io
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms

from . import imageio
from .errors import ImageLoadError
from .imageio import DEFAULT_MAX_PIXELS

# Re-exported for notebooks (``images.samples("texture")``). The dependency runs one way:
# images → samples; samples never imports images.
from .samples import cache_dir, list_paintings, list_samples, samples  # noqa: F401

RESIZE_MODES = ("longest", "shortest")
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}

_TRANSPARENT_MODES = {"RGBA", "RGBa", "LA", "PA"}


# --------------------------------------------------------------------------- numpy / PIL / tensor


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """Tensor ``[3,H,W]`` or ``[1,3,H,W]`` (or a single-channel ``[H,W]``) → ``H×W×3`` float array in [0,1].

    Values are clamped to [0, 1]; the tensor is detached and moved to the CPU.
    Grey ``[H,W]`` / ``[1,H,W]`` inputs come back as ``H×W`` arrays.
    """
    t = image.detach()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_numpy takes one image, got a batch of {t.shape[0]} (shape {tuple(t.shape)}); "
                             "index it first")
        t = t[0]
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.dim() not in (2, 3) or (t.dim() == 3 and t.shape[0] != 3):
        raise ValueError(f"expected [3,H,W] or [1,3,H,W], got shape {tuple(image.shape)}")
    arr = t.float().clamp(0, 1).cpu().numpy()
    return np.ascontiguousarray(arr.transpose(1, 2, 0)) if arr.ndim == 3 else arr


def from_numpy(array: np.ndarray) -> torch.Tensor:
    """``H×W×3`` (uint8 0–255 or float 0–1) or ``H×W`` array → float tensor ``[1,3,H,W]`` in [0,1].

    Also accepted: ``H×W×1``; ``H×W×4`` (RGBA, composited over white); ``uint16``
    (0–65535); ``bool``; other integer types holding 0–255 (or 0–65535). Floats are
    clamped to [0, 1]; NaN or infinite values are refused.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        hint = " (channels first? use array.transpose(1, 2, 0))" if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) else ""
        raise ValueError(f"expected an H×W×3 array, got shape {arr.shape}{hint}")
    unit = _array_to_unit(arr)
    if unit.ndim == 2:
        unit = np.repeat(unit[:, :, None], 3, axis=2)
    elif unit.shape[2] == 4:
        unit = _over_white(unit)
    return torch.from_numpy(np.ascontiguousarray(unit.transpose(2, 0, 1))).unsqueeze(0).clamp(0, 1)


def _array_to_unit(arr: np.ndarray) -> np.ndarray:
    """Any numeric array → float32 in (about) [0, 1], scaling integers by their bit depth."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if np.issubdtype(arr.dtype, np.integer):
        low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if low >= 0 and high <= 255:
            return arr.astype(np.float32) / 255.0
        if low >= 0 and high <= 65535:
            return arr.astype(np.float32) / 65535.0
        raise ValueError(f"integer image values must lie in 0–255 or 0–65535, got {low}…{high} ({arr.dtype})")
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        if out.size and not np.isfinite(out).all():
            raise ValueError("image array contains NaN or infinite values")
        if out.size and out.max() > 2.0:
            warnings.warn(f"float image has values up to {out.max():g}, expected 0–1; "
                          "it will be clamped (divide 0–255 data by 255 first)", stacklevel=3)
        return out
    raise ValueError(f"unsupported image array dtype {arr.dtype}")


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """``H×W×4`` float RGBA → ``H×W×3`` composited over white (alpha is straight, not premultiplied)."""
    alpha = rgba[:, :, 3:4]
    return rgba[:, :, :3] * alpha + (1.0 - alpha)


def to_pil(image: torch.Tensor) -> Image.Image:
    """Tensor ``[3,H,W]``/``[1,3,H,W]`` → RGB PIL image (``[H,W]``/``[1,H,W]`` → mode ``L``).

    Values are clamped to [0, 1] and rounded to the nearest of 256 levels, so
    ``from_pil(to_pil(x))`` is within 1/510 of ``x``.
    """
    arr = np.round(to_numpy(image) * 255.0).astype(np.uint8)
    return Image.fromarray(arr, mode="RGB" if arr.ndim == 3 else "L")


def from_pil(img: Image.Image) -> torch.Tensor:
    """PIL image of any common mode → float tensor ``[1,3,H,W]`` in [0,1] (rules in the module docstring)."""
    return torch.from_numpy(np.ascontiguousarray(_pil_to_unit_rgb(img).transpose(2, 0, 1))).unsqueeze(0)


def _pil_to_unit_rgb(img: Image.Image) -> np.ndarray:
    """PIL image → ``H×W×3`` float32 array in [0, 1]."""
    mode = img.mode
    if mode in _TRANSPARENT_MODES or (mode in ("P", "L", "RGB") and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return _over_white(rgba)
    if mode.startswith("I;16") or mode == "I":
        return _grey3(_wide_int_to_unit(np.asarray(img)))
    if mode == "F":
        return _grey3(_float_to_unit(np.asarray(img, dtype=np.float32)))
    if mode in ("1", "L"):
        return _grey3(np.asarray(img.convert("L"), dtype=np.float32) / 255.0)
    rgb = _icc_to_srgb(img) if "icc_profile" in img.info else None
    if rgb is None:
        rgb = _convert_rgb(img)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _grey3(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey.astype(np.float32)[:, :, None], 3, axis=2)


def _wide_int_to_unit(arr: np.ndarray) -> np.ndarray:
    """16/32-bit greyscale → [0, 1].

    Values within 0–65535 are read as 16-bit (PIL uses mode ``I`` for 16-bit data too),
    so 65535 → 1.0 and 255 stays dark; anything wider is stretched min→0, max→1.
    """
    arr = arr.astype(np.int64)
    low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if low >= 0 and high <= 65535:
        return (arr / 65535.0).astype(np.float32)
    return _stretch(arr)


def _float_to_unit(arr: np.ndarray) -> np.ndarray:
    """32-bit float greyscale → [0, 1]: taken as 0–1, 0–255 or 0–65535 data by its largest value, else stretched."""
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if low >= 0:
        for top in (1.0, 255.0, 65535.0):
            if high <= top:
                return (arr / top).astype(np.float32)
    return _stretch(arr)


def _stretch(arr: np.ndarray) -> np.ndarray:
    low, high = float(arr.min()), float(arr.max())
    span = high - low if high > low else 1.0
    return ((arr - low) / span).astype(np.float32)


def _convert_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode == "LAB":
        # PIL's plain convert() only relabels LAB channels; LittleCMS does the real maths.
        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(img, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as err:
        raise ValueError(f"cannot convert PIL mode {img.mode!r} to RGB: {err}") from err


def _icc_to_srgb(img: Image.Image) -> Image.Image | None:
    """Convert an RGB/CMYK image with an embedded ICC profile to sRGB; ``None`` if that fails."""
    if img.mode not in ("RGB", "CMYK"):
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        srgb = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
    except Exception:  # a broken or unsupported profile: fall back to plain conversion
        return None


# --------------------------------------------------------------------------- loading


def load_image(source, size=None, *, resize: str = "longest",
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Load an image as a float tensor ``[1, 3, H, W]`` in [0, 1] (RGB).

    Args:
        source: a file path (``str``/``Path``); a bundled sample name (``"chelsea"``,
            see :func:`list_samples`); a painting name (``"starry_night"``, downloaded
            once, see :func:`list_paintings`); a binary file object; a PIL image; a NumPy
            array (see :func:`from_numpy`); or a tensor ``[3,H,W]``/``[1,3,H,W]``.
        size: ``None`` keeps the size; an int sets the ``resize`` side to that many
            pixels keeping the aspect ratio (up- or downscaling); a pair ``(H, W)``
            gives exactly that size.
        resize: ``"longest"`` or ``"shortest"``: which side ``size`` refers to.
        max_pixels: refuse files with more pixels than this (a decompression-bomb
            guard, checked from the header before decoding); ``None`` disables it.

    EXIF orientation is applied (to files and PIL images), so photos come out the way
    viewers show them. A 1×1
    image is valid and loads as 1×1 (and can be resized to any ``size``).

    Raises:
        ImageLoadError: the file is missing, a directory, empty, not an image,
            truncated/corrupt, over ``max_pixels``, or the name is unknown. The message
            names the file (or name) and what to do.
        DownloadError: a painting is not cached and cannot be downloaded.
        ValueError: ``size``, ``resize`` or ``max_pixels`` is invalid.
    """
    _check_size(size)
    _check_by(resize)
    imageio.check_max_pixels(max_pixels)
    if isinstance(source, torch.Tensor):
        image = as_batch(source).float().clamp(0, 1)
    elif isinstance(source, Image.Image):
        imageio.check_pixels(source.size, max_pixels, "the PIL image")
        image = from_pil(imageio.exif_upright(source, "the PIL image"))
    elif isinstance(source, np.ndarray):
        image = from_numpy(source)
    elif isinstance(source, (str, bytes, os.PathLike)):
        path = imageio.resolve(source)
        image = _load_file(path, str(path), size, resize, max_pixels)
    elif hasattr(source, "read"):
        label = str(getattr(source, "name", "<file object>"))
        image = _load_file(source, label, size, resize, max_pixels)
    else:
        raise TypeError(f"load_image takes a path, sample or painting name, PIL image, array or tensor; "
                        f"got {type(source).__name__}")
    return image if size is None else _resize_tensor(image, size, resize)


def _check_size(size) -> None:
    if size is None:
        return
    values = size if isinstance(size, (tuple, list)) else (size,)
    if isinstance(size, (tuple, list)) and len(size) != 2:
        raise ValueError(f"size must be an int or a pair (H, W), got {size!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"size must be a positive whole number of pixels, got {size!r}")
        if v <= 0:
            raise ValueError(f"size must be a positive number of pixels, got {size!r}")


def _check_by(by: str) -> None:
    if by not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {by!r}")


def _load_file(file, label: str, size, by: str, max_pixels: int | None) -> torch.Tensor:
    """Read one image file (path or file object) with :func:`helpers.imageio.opened` and convert it."""
    exact = size is None or isinstance(size, (tuple, list))
    draft_to = None if exact else functools.partial(target_size, size=size, by=by)
    with imageio.opened(file, label, max_pixels=max_pixels, draft_to=draft_to) as img:
        try:
            return from_pil(img)
        except ValueError as err:
            raise ImageLoadError(f"{label}: {err}") from err


# --------------------------------------------------------------------------- size and crops


def target_size(height: int, width: int, size, by: str = "longest") -> tuple[int, int]:
    """``(H, W)`` after resizing ``height×width`` so that side ``by`` is ``size`` px (or to exactly ``size=(H, W)``).

    The other side is rounded to the nearest pixel (at least 1), so the aspect ratio is
    kept to within one pixel.
    """
    _check_size(size)
    _check_by(by)
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    side = max(height, width) if by == "longest" else min(height, width)
    scale = size / side
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, size, by: str = "longest", *, clamp: bool = True) -> torch.Tensor:
    """Resize ``[B,3,H,W]`` or ``[3,H,W]`` (same rank back), keeping the aspect ratio: the
    kit's one resize (bicubic with antialiasing).

    Args:
        image: float tensor ``[B, C, H, W]`` or ``[C, H, W]``.
        size: the length in pixels of the ``by`` side, or a pair ``(H, W)`` for an exact size.
        by: ``"longest"`` or ``"shortest"``.
        clamp: clamp the result to [0, 1] (an image); ``False`` for values that are not
            pixels (a difference of images, an unconstrained optimisation variable).

    Returns:
        The resized tensor, the same object when the size does not change. Differentiable;
        runs on the tensor's device.
    """
    _check_size(size)
    _check_by(by)
    return _resize_tensor(image, size, by, clamp)


def _resize_tensor(image: torch.Tensor, size, by: str, clamp: bool = True) -> torch.Tensor:
    if image.dim() not in (3, 4):
        raise ValueError(f"resize expects [3,H,W] or [B,3,H,W], got shape {tuple(image.shape)}")
    h, w = image.shape[-2:]
    new_hw = target_size(h, w, size, by)
    if new_hw == (h, w):
        return image
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    if not batch.is_floating_point():
        batch = batch.float()
    try:
        out = F.interpolate(batch, size=new_hw, mode="bicubic", align_corners=False, antialias=True)
    except (NotImplementedError, RuntimeError):  # some backends (e.g. MPS) lack antialiased bicubic
        out = F.interpolate(batch.cpu(), size=new_hw, mode="bicubic", align_corners=False,
                            antialias=True).to(batch.device)
    out = out.clamp(0, 1) if clamp else out
    return out if image.dim() == 4 else out[0]


def _crop_hw(image: torch.Tensor, size) -> tuple[int, int]:
    _check_size(size)
    ch, cw = (size, size) if not isinstance(size, (tuple, list)) else (int(size[0]), int(size[1]))
    h, w = image.shape[-2:]
    if ch > h or cw > w:
        raise ValueError(f"crop size {ch}×{cw} is larger than the image {h}×{w}; resize it first")
    return ch, cw


def center_crop(image: torch.Tensor, size) -> torch.Tensor:
    """Central ``size×size`` (or ``(H, W)``) window of ``[...,H,W]``."""
    ch, cw = _crop_hw(image, size)
    h, w = image.shape[-2:]
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[..., top:top + ch, left:left + cw]


def random_crop(image: torch.Tensor, size, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly placed ``size×size`` (or ``(H, W)``) window of ``[...,H,W]``; seed via ``generator``."""
    ch, cw = _crop_hw(image, size)
    h, w = image.shape[-2:]
    top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
    return image[..., top:top + ch, left:left + cw]


def as_batch(image: torch.Tensor) -> torch.Tensor:
    """``[3,H,W]`` → ``[1,3,H,W]``; ``[B,3,H,W]`` unchanged; any other shape raises ``ValueError``."""
    if image.dim() == 3 and image.shape[0] == 3:
        return image.unsqueeze(0)
    if image.dim() == 4 and image.shape[1] == 3:
        return image
    raise ValueError(f"expected an image tensor [3,H,W] or [B,3,H,W], got shape {tuple(image.shape)}")


# --------------------------------------------------------------------------- saving


def save_image(image: torch.Tensor, path) -> Path:
    """Write ``[3,H,W]`` or ``[1,3,H,W]`` (clamped to [0,1]) as PNG/JPEG/WebP/BMP/TIFF by suffix.

    Parent folders are created. JPEG is written at quality 95 with full-resolution
    colour. Returns the path written.
    """
    path = Path(path).expanduser()
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format from {path.name!r}; use one of the suffixes "
                         f"{', '.join(SAVE_FORMATS)}")
    pil = to_pil(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    pil.save(path, format=fmt, **options)
    return path

