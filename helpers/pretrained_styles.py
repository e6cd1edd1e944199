"""The fast style-transfer networks published with PyTorch's official example, cached once.

:func:`prefetch_styles` downloads the example's zip (through
:func:`helpers.downloads.downloaded`) and unpacks its ``<style>.pth`` files into
:func:`styles_dir`; :func:`load_official_style` loads one as a
:class:`~helpers.transformer_net.TransformerNet` (trained on 0–255 pixels, so
``value_range=255``). ``python -m helpers download styles`` runs the prefetch.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch

from helpers.downloads import downloaded
from helpers.errors import DownloadError
from helpers.transformer_net import TransformerNet, load_transformer

# The four styles published with PyTorch's examples repository (fast_neural_style/README.md,
# download_saved_models.py): one zip holding saved_models/<style>.pth, trained on COCO 2014
# at 256 px with the example's defaults.
OFFICIAL_STYLES = ("candy", "mosaic", "rain_princess", "udnie")
OFFICIAL_ZIP_URL = "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1"
OFFICIAL_SOURCE = "https://github.com/pytorch/examples/tree/main/fast_neural_style"
MAX_ZIP_BYTES = 200 * 2**20


def styles_dir() -> Path:
    """Where the official checkpoints are kept: ``<torch hub dir>/checkpoints/fast_neural_style``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "fast_neural_style"


def official_style_path(name: str) -> Path:
    """Cache path of an official style (it may not exist yet)."""
    key = name.strip().lower().replace("-", "_")
    if key not in OFFICIAL_STYLES:
        raise ValueError(f"unknown style {name!r}; the official checkpoints are {', '.join(OFFICIAL_STYLES)}")
    return styles_dir() / f"{key}.pth"


def _styles_message(reason: str) -> str:
    return (f"the pretrained fast style-transfer networks are not available: {reason}.\n"
            f"  Fix: run `python -m helpers download styles` while online, or download {OFFICIAL_ZIP_URL}\n"
            f"  (from {OFFICIAL_SOURCE}) and unzip its .pth files into {styles_dir()}")


def load_official_style(name: str, device=None) -> TransformerNet:
    """The official example's network for style ``name`` (``candy``, ``mosaic``, ``rain_princess``,
    ``udnie``), from the cache; raises :class:`DownloadError` with the fix when it is missing."""
    path = official_style_path(name)
    if not path.is_file():
        raise DownloadError(_styles_message(f"{path} does not exist"))
    net = load_transformer(path, value_range=255.0)
    return net.to(device) if device is not None else net



def prefetch_styles(url: str = OFFICIAL_ZIP_URL, timeout: float = 60.0) -> dict[str, Path]:
    """Download the official checkpoints' zip and unpack its ``<style>.pth`` files into :func:`styles_dir`.

    Args:
        url: the zip to fetch (``file://`` works for a local copy).
        timeout: seconds to wait for the server.

    Returns:
        ``{style: path}`` of the files unpacked (each checked to load).

    Raises:
        DownloadError: the download failed, was over :data:`MAX_ZIP_BYTES`, was not a zip
            or held none of :data:`OFFICIAL_STYLES`; the message says how to fix it.
    """
    target = styles_dir()
    with downloaded(url, target, max_bytes=MAX_ZIP_BYTES, timeout=timeout,
                    explain=lambda reason: _styles_message(f"cannot download {url} ({reason})"),
                    prefix="saved_models", suffix=".zip") as tmp:
        found = {}
        try:
            with zipfile.ZipFile(tmp) as zf:
                for info in zf.infolist():
                    stem = Path(info.filename).stem.replace("-", "_").lower()
                    if info.filename.endswith(".pth") and stem in OFFICIAL_STYLES:
                        dest = target / f"{stem}.pth"
                        part = dest.with_suffix(".part")
                        with zf.open(info) as src, open(part, "wb") as dst:
                            dst.write(src.read())
                        try:
                            load_transformer(part, value_range=255.0)   # refuse files that do not load
                        except Exception as exc:
                            part.unlink(missing_ok=True)
                            raise DownloadError(_styles_message(
                                f"{info.filename} in {url} is not a loadable style network ({exc})")) from None
                        os.replace(part, dest)
                        found[stem] = dest
        except zipfile.BadZipFile as exc:
            raise DownloadError(_styles_message(f"{url} did not send a zip file ({exc})")) from exc
        if not found:
            raise DownloadError(_styles_message(f"{url} held none of {', '.join(OFFICIAL_STYLES)}"))
        return found
