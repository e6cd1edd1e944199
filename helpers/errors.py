"""The kit's exceptions: each message says what went wrong, with which file or value, and what to do."""
from __future__ import annotations


class KitError(Exception):
    """Base class of every error the kit raises on purpose."""


class ImageLoadError(KitError, ValueError):
    """An image file could not be read or decoded (names the file and the fix)."""


class WeightsUnavailableError(KitError, RuntimeError):
    """Pretrained weights are not cached and could not be downloaded (names the prefetch command and path)."""


class CorruptWeightsError(KitError, RuntimeError):
    """A cached weight file fails its hash check or cannot be unpickled (names the file to delete)."""


class DownloadError(KitError, RuntimeError):
    """A bundled-on-first-use asset (a painting) could not be fetched (names the URL, the cache path and the fix)."""
