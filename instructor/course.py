"""Where the course repository lives: the one definition every instructor module uses."""
from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def repo_root() -> Path:
    """The repository root: the folder that holds ``instructor/``, ``solutions/`` and ``notebooks/``.

    Returns:
        Absolute path of the checkout this package was imported from.
    """
    return Path(__file__).resolve().parent.parent
