"""Training photos for feed-forward style networks: random square crops, reproducible.

:class:`PhotoStream` draws ``[B, 3, size, size]`` batches in [0, 1] from any folder of
photos (or the kit's bundled content samples), every random choice taken from the
``torch.Generator`` the caller passes, so a training run can be resumed exactly.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import torch

from helpers.errors import ImageLoadError
from helpers.imageio import IMAGE_SUFFIXES

Tensor = torch.Tensor

#: File suffixes searched for in a photo folder.
PHOTO_SUFFIXES = IMAGE_SUFFIXES


class PhotoStream:
    """Random ``size × size`` crops of photos, as ``[B, 3, size, size]`` batches in [0, 1].

    Each photo is resized so that its shortest side is ``size`` × a random factor in
    ``[1, max_zoom]``, cropped at a random place and flipped left–right with probability ½.
    All randomness comes from the ``generator`` passed to :meth:`batch`, so a run is
    reproducible and resumable. Up to ``cache_limit`` decoded photos are kept in memory
    (the bundled set fits); larger folders are read from disk as needed. A photo that
    cannot be read is reported once and skipped.

    Args:
        source: a folder (searched recursively for .jpg/.png/…), a list of paths or bundled
            sample names, or ``None`` for the kit's bundled photos.
    """

    def __init__(self, source=None, size: int = 256, *, max_zoom: float = 1.25, cache_limit: int = 64):
        if size < 16:
            raise ValueError(f"crop size must be at least 16 pixels, got {size}")
        if max_zoom < 1:
            raise ValueError(f"max_zoom must be ≥ 1, got {max_zoom}")
        self.size, self.max_zoom, self.cache_limit = int(size), float(max_zoom), int(cache_limit)
        self.sources = _photo_list(source)
        self._cache: dict[int, Tensor] = {}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.sources)

    def _load(self, index: int) -> Tensor | None:
        from helpers import images

        if index in self._cache:
            return self._cache[index]
        try:
            # Decoded a little larger than needed so zoomed crops stay sharp.
            photo = images.load_image(self.sources[index], size=math.ceil(self.size * self.max_zoom),
                                      resize="shortest")[0]
        except (ImageLoadError, OSError) as exc:
            self._bad.add(index)
            warnings.warn(f"skipping photo {self.sources[index]}: {exc}", stacklevel=3)
            return None
        if len(self._cache) < self.cache_limit:
            self._cache[index] = photo
        return photo

    def sample(self, generator: torch.Generator) -> Tensor:
        """One random crop ``[3, size, size]``."""
        from helpers import images

        for _ in range(10 * len(self.sources) + 10):
            index = int(torch.randint(len(self.sources), (1,), generator=generator))
            zoom = 1 + (self.max_zoom - 1) * float(torch.rand((), generator=generator))
            flip = bool(torch.rand((), generator=generator) < 0.5)
            if index in self._bad:
                continue
            photo = self._load(index)
            if photo is None:
                continue
            short = math.ceil(self.size * zoom)
            photo = images.resize(photo, short, by="shortest") if min(photo.shape[-2:]) != short else photo
            crop = images.random_crop(photo, self.size, generator=generator)
            return crop.flip(-1) if flip else crop
        raise ImageLoadError(f"none of the {len(self.sources)} photos could be read (first: {self.sources[0]}); "
                             "check the folder")

    def batch(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """``[batch_size, 3, size, size]`` random crops."""
        return torch.stack([self.sample(generator) for _ in range(batch_size)])


def _photo_list(source) -> list:
    from helpers.samples import samples

    if source is None:
        return list(samples("content"))
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        folder = Path(source)
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        if not found:
            raise ImageLoadError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) under {folder}; "
                                 "point the training at a folder of photographs")
        return found
    if isinstance(source, (str, os.PathLike)):
        raise ImageLoadError(f"photo folder {source} does not exist; pass a folder of photographs, "
                             "a list of image paths, or None for the bundled photos")
    items = list(source)
    if not items:
        raise ImageLoadError("the list of photos is empty")
    return items
