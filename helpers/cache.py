"""Where the kit keeps what it downloads or computes once (paintings, the toy classifier,
fast style-transfer checkpoints): ``$KIT_CACHE_DIR/<part>`` when that variable is set,
else ``$XDG_CACHE_HOME/cnn-kit/<part>``, else ``~/.cache/cnn-kit/<part>``. Nothing is
created here."""
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
