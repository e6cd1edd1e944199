"""Reading image files safely: names to paths, the decompression-bomb guard, decoding, EXIF.

:func:`opened` is the hardened file reader behind :func:`helpers.images.load_image`: it
resolves nothing itself but takes a path (see :func:`resolve` for sample and painting names)
or a binary file object, refuses directories and empty files, checks the pixel count from
the header (:data:`DEFAULT_MAX_PIXELS`) before any pixel data is decoded, decodes, applies
the EXIF orientation and yields the upright PIL image. Every failure is an
:class:`~helpers.errors.ImageLoadError` naming the file and what to do. Conversion to
tensors stays in :mod:`helpers.images`; this module never imports it.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from . import samples as _samples
from .errors import ImageLoadError

DEFAULT_MAX_PIXELS = 50_000_000
#: File suffixes of the image formats the kit reads and writes.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

_PIL_LIMIT_LOCK = threading.Lock()


def check_max_pixels(max_pixels) -> None:
    """Raise ``ValueError`` unless ``max_pixels`` is a positive int or ``None``."""
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")


def check_pixels(wh: tuple[int, int], max_pixels: int | None, label: str) -> None:
    """Refuse an image of ``wh = (width, height)`` pixels over ``max_pixels`` (``None``: no limit).

    Raises:
        ImageLoadError: naming ``label``, the size and how to raise the limit.
    """
    w, h = wh
    if max_pixels is not None and w * h > max_pixels:
        raise ImageLoadError(_bomb_message(label, f"{w}×{h} = {w * h:,} pixels", w * h, max_pixels))


def _bomb_message(label: str, size_text: str, pixels: int | None, max_pixels: int) -> str:
    suggestion = f"max_pixels={pixels:_}" if pixels else "a larger max_pixels"
    return (
        f"{label}: the image is {size_text}, more than the limit of {max_pixels:,} pixels "
        f"(max_pixels). The limit guards against decompression bombs: small files that decode "
        f"into gigabytes. If you trust this file, raise the limit, e.g. "
        f"load_image(..., {suggestion}), or pass max_pixels=None to switch the check off."
    )


def resolve(source) -> Path:
    """A path, sample name or painting name → an existing path (directories are refused later).

    Args:
        source: a ``str``, ``bytes`` or ``os.PathLike``: a file path, a bundled sample name
            (``"chelsea"``) or a painting name (``"starry_night"``, downloaded once).

    Returns:
        The path of the file (a painting is fetched into the cache first).

    Raises:
        ImageLoadError: the name is empty or unknown, or the file does not exist.
        DownloadError: a painting is not cached and cannot be downloaded.
    """
    text = os.fsdecode(os.fspath(source))
    if not text.strip():
        raise ImageLoadError("empty image path or name ''. Give a file path or a sample name: "
                             + ", ".join(_samples.samples()))
    path = Path(text).expanduser()
    if path.exists():
        return path
    key = _samples.normalise_name(text)
    if key in _samples.SAMPLES:
        return _samples.sample_path(key)
    if key in _samples.PAINTINGS:
        return _samples.painting_path(key)
    known = list(_samples.SAMPLES) + list(_samples.PAINTINGS)
    if isinstance(source, str) and not path.suffix and os.sep not in text and "/" not in text:
        raise ImageLoadError(
            f"unknown image name {text!r}: not a file in {Path.cwd()}, not a bundled sample, "
            f"not a painting.{_samples.did_you_mean(text, known)} Bundled samples: {', '.join(_samples.SAMPLES)}. "
            f"Paintings (downloaded once): {', '.join(_samples.PAINTINGS)}."
        )
    raise ImageLoadError(
        f"image file not found: {text!r} (looked for {path.absolute()}). Check the path and the "
        f"current folder ({Path.cwd()}), or load a bundled sample by name instead: "
        f"{', '.join(_samples.SAMPLES)}."
    )




@contextlib.contextmanager
def opened(file, label: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
           draft_to: Callable[[int, int], tuple[int, int]] | None = None):
    """Open, check and decode one image file; yields the upright PIL image (closed afterwards).

    Args:
        file: a :class:`~pathlib.Path` (checked to be a non-empty regular file) or a binary
            file object.
        label: how error messages name the file (its path, or the file object's name).
        max_pixels: refuse images with more pixels than this, read from the header before
            decoding; ``None`` disables the check.
        draft_to: ``(height, width) -> (target height, target width)``, the size the image
            will be resized to; a JPEG is then decoded at a reduced scale no smaller than
            that. ``None`` decodes at full size.

    Raises:
        ImageLoadError: the file is a directory, empty, not an image, over ``max_pixels``,
            truncated or corrupt; the message names the file and what to do.
    """
    if isinstance(file, Path):
        _check_regular_file(file)
    with _open(file, label, max_pixels) as img:
        if draft_to is not None:
            _draft(img, draft_to)
        _decode(img, label, file)
        yield exif_upright(img, label)


def _check_regular_file(path: Path) -> None:
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:5]
        hint = f" Image files in it: {', '.join(inside)}." if inside else ""
        raise ImageLoadError(f"{path} is a directory, not an image file; pass a file inside it.{hint}")
    try:
        n_bytes = path.stat().st_size
    except OSError as err:
        raise ImageLoadError(f"{path}: cannot read the file ({err})") from err
    if n_bytes == 0:
        raise ImageLoadError(f"{path} is an empty file (0 bytes): an interrupted download or copy? "
                             "Delete it and fetch or export the image again.")


@contextlib.contextmanager
def _open(file, label: str, max_pixels: int | None):
    """``Image.open`` (header only) with the pixel limit checked and errors translated."""
    with _pil_limit_at_least(max_pixels), warnings.catch_warnings():
        # Our own max_pixels check below is the one that decides; PIL's warning is noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(file)
        except Image.DecompressionBombError as err:
            pixels = _pixels_in(str(err))
            size_text = f"{pixels:,} pixels" if pixels else "larger than PIL's own limit"
            raise ImageLoadError(_bomb_message(label, size_text, pixels, max_pixels or 0)) from err
        except UnidentifiedImageError as err:
            raise ImageLoadError(f"{label}: not an image file PIL can read{_describe_start(file)}. "
                                 "Is it really an image (and not, say, a renamed text or HTML file)?") from err
        except PermissionError as err:
            raise ImageLoadError(f"{label}: no permission to read the file ({err})") from err
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageLoadError(f"{label}: cannot open the image ({type(err).__name__}: {err})") from err
        with img:
            check_pixels(img.size, max_pixels, label)
            yield img


@contextlib.contextmanager
def _pil_limit_at_least(max_pixels: int | None):
    """Lift PIL's global bomb limit for this call if ``max_pixels`` asks for more."""
    pil_limit = Image.MAX_IMAGE_PIXELS
    if pil_limit is None or (max_pixels is not None and 2 * pil_limit >= max_pixels):
        yield
        return
    with _PIL_LIMIT_LOCK:
        Image.MAX_IMAGE_PIXELS = None if max_pixels is None else max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = pil_limit


def _pixels_in(message: str) -> int | None:
    match = re.search(r"\((\d+) pixels\)", message)
    return int(match.group(1)) if match else None


def _describe_start(file) -> str:
    """A hint about what a non-image file is, from its first bytes."""
    try:
        if isinstance(file, Path):
            with open(file, "rb") as fh:
                head = fh.read(64)
        else:
            return ""
    except OSError:
        return ""
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return " (it is an HTML page, perhaps an error page saved instead of the image)"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f" (it looks like text: {head[:40].decode('ascii')!r}...)"
    return f" (it starts with bytes {head[:8]!r})"


def _draft(img: Image.Image, draft_to: Callable[[int, int], tuple[int, int]]) -> None:
    """Let JPEG decode at a reduced scale that is still at least the target size (faster, less memory)."""
    if img.format != "JPEG":
        return
    target_h, target_w = draft_to(img.height, img.width)
    if target_h < img.height and target_w < img.width:
        img.draft(img.mode, (target_w, target_h))


def _decode(img: Image.Image, label: str, file) -> None:
    try:
        img.load()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, zlib/struct errors...
        n_bytes = f" ({file.stat().st_size:,} bytes)" if isinstance(file, Path) else ""
        raise ImageLoadError(
            f"{label}{n_bytes}: could not decode the image data ({type(err).__name__}: {err}). "
            "The file is probably truncated or corrupt; download or export it again."
        ) from err


def exif_upright(img: Image.Image, label: str) -> Image.Image:
    """Apply the EXIF orientation tag (photos from phones are often stored sideways).

    A malformed tag is ignored with a warning naming ``label``; the image is returned as stored.
    """
    try:
        return ImageOps.exif_transpose(img)
    except Exception as err:  # malformed EXIF must not make the picture unusable
        warnings.warn(f"{label}: ignoring unreadable EXIF orientation ({err})", stacklevel=4)
        return img

