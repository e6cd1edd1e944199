"""Rebuild the bundled sample images in this folder from scikit-image's shipped data.

Run from the repository root: ``python data/make_samples.py``. It needs only the
files that ship inside the scikit-image wheel (no download). Provenance and
licences of every output file are listed in ``LICENSES.md`` next to this script;
keep the two in step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).resolve().parent
LONGEST = 512
QUALITY = 90


def _fit(img: Image.Image, longest: int = LONGEST) -> Image.Image:
    """Shrink (never enlarge) so the longest side is at most ``longest`` pixels."""
    scale = longest / max(img.size)
    if scale >= 1:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _centre_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    top = (array.shape[0] - height) // 2
    left = (array.shape[1] - width) // 2
    return array[top:top + height, left:left + width]


# output file -> array it is made from (rows, then columns for crops)
RECIPES = {
    "astronaut.jpg": lambda: data.astronaut(),
    "chelsea.jpg": lambda: data.chelsea(),
    "coffee.jpg": lambda: data.coffee(),
    "rocket.jpg": lambda: data.rocket(),
    "brick.jpg": lambda: data.brick(),
    "grass.jpg": lambda: data.grass(),
    "gravel.jpg": lambda: data.gravel(),
    "hubble.jpg": lambda: _centre_crop(data.hubble_deep_field(), 512, 512),
    "ihc.jpg": lambda: data.immunohistochemistry(),
    # wood grain of the table, right of the saucer in the coffee photo
    "wood.jpg": lambda: data.coffee()[110:400, 485:600],
}


def main() -> None:
    total = 0
    for filename, make in RECIPES.items():
        img = _fit(Image.fromarray(np.ascontiguousarray(make())))
        out = HERE / filename
        img.save(out, quality=QUALITY, optimize=True, subsampling=0)  # 4:4:4 keeps colour edges
        total += out.stat().st_size
        print(f"{filename:16s} {img.mode:3s} {img.width}x{img.height}  {out.stat().st_size // 1024} KiB")
    print(f"total {total // 1024} KiB")


if __name__ == "__main__":
    main()
