"""Where the kit keeps what it downloads or computes once (paintings, the toy classifier,
fast style-transfer checkpoints): ``$KIT_CACHE_DIR/<part>`` when that variable is set,
else ``$XDG_CACHE_HOME/cnn-kit/<part>``, else ``~/.cache/cnn-kit/<part>``. Nothing is
created here; :func:`copy_limited` is the size-capped copy every download into it uses."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "KIT_CACHE_DIR"


def kit_cache_dir(part: str) -> Path:
    """The cache folder for ``part`` (e.g. ``"paintings"``), following the rule above."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / part
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cnn-kit" / part


def copy_limited(src, dst, limit: int) -> int | None:
    """Copy a byte stream to a file, giving up once it is larger than ``limit``.

    Args:
        src: a readable binary stream (e.g. an HTTP response); read in 64 KiB chunks.
        dst: a writable binary file.
        limit: the most bytes to accept.

    Returns:
        The number of bytes copied, or ``None`` when ``src`` held more than ``limit`` bytes
        (``dst`` then holds a partial copy of at most ``limit`` bytes; the caller discards it).
    """
    total = 0
    while chunk := src.read(1 << 16):
        total += len(chunk)
        if total > limit:
            return None
        dst.write(chunk)
    return total
