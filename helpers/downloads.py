"""Fetching a file into a cache folder: the one download mechanism of the kit.

:func:`downloaded` copies a URL into a temporary file in the destination folder, refuses
an empty or oversized response, checks the size and SHA-256 when the caller gives them,
yields the temporary file and removes it afterwards. :func:`fetch_to_cache` adds the
caller's own check of the contents and an atomic rename into place, so an interrupted or
refused download never leaves a broken file under the cache name. Every failure is a
:class:`~helpers.errors.DownloadError` whose message names the URL, the file and what to
do (the caller's ``explain`` words it for its own files).

Used for the paintings (:mod:`helpers.samples`) and the official fast style-transfer
checkpoints (:mod:`helpers.pretrained_styles`); pretrained weights come through
torchvision (:mod:`helpers.weights`). ``python -m helpers download`` fetches all of them
(:mod:`helpers.prefetch`).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from .cache import CACHE_ENV, copy_limited
from .errors import DownloadError

#: Sent with every request (Wikimedia asks automated clients to identify themselves).
USER_AGENT = "cnn-kit-course-notebooks/1.0 (teaching notebooks; fetches a few public-domain files once)"
DOWNLOAD_TIMEOUT_S = 30.0

Explain = Callable[[str], str]


def fetch_to_cache(url: str, target, *, max_bytes: int, timeout: float = DOWNLOAD_TIMEOUT_S,
                   user_agent: str = USER_AGENT, sha256: str | None = None, size: int | None = None,
                   check: Callable[[Path], str | None] | None = None, explain: Explain | None = None) -> Path:
    """Download ``url`` to ``target`` through a temporary file in its folder, renamed into place once checked.

    Args:
        url: what to fetch (``https://``, ``http://`` or ``file://``).
        target: the cache file to create or replace; its folder is created.
        max_bytes: refuse a response larger than this many bytes.
        timeout: seconds to wait for the server.
        user_agent: the ``User-Agent`` header sent.
        sha256: the file's SHA-256 in hex (or a prefix of it), when known.
        size: the file's size in bytes, when known.
        check: ``check(temporary path) -> None`` when the contents are acceptable, else a
            short reason (e.g. "not a readable image").
        explain: ``explain(reason) -> message`` for the :class:`DownloadError`; by default
            the message names the URL, ``target`` and how to put the file there by hand.

    Returns:
        ``target``.

    Raises:
        DownloadError: the folder is not writable, the server cannot be reached or sends an
            error, nothing, too much, or a file that fails a check. ``target`` is untouched.
    """
    target = Path(target)
    explain = explain or _plain_explanation(url, target)
    with downloaded(url, target.parent, max_bytes=max_bytes, timeout=timeout, user_agent=user_agent,
                    sha256=sha256, size=size, explain=explain, prefix=target.stem, suffix=".part") as tmp:
        problem = check(tmp) if check is not None else None
        if problem:
            raise DownloadError(explain(problem))
        os.replace(tmp, target)
    return target


@contextlib.contextmanager
def downloaded(url: str, folder, *, max_bytes: int, timeout: float = DOWNLOAD_TIMEOUT_S,
               user_agent: str = USER_AGENT, sha256: str | None = None, size: int | None = None,
               explain: Explain | None = None, prefix: str = "download", suffix: str = ".part") -> Iterator[Path]:
    """Download ``url`` into a temporary file in ``folder``; yields its path and deletes it afterwards.

    For downloads that are unpacked rather than kept (a zip of checkpoints). Arguments as
    in :func:`fetch_to_cache`; ``prefix`` and ``suffix`` name the temporary file
    (``.<prefix>-XXXX<suffix>``, hidden).

    Raises:
        DownloadError: as :func:`fetch_to_cache`; nothing is left in ``folder``.
    """
    folder = Path(folder)
    explain = explain or _plain_explanation(url, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{prefix}-", suffix=suffix, dir=folder)
    except OSError as err:
        raise DownloadError(explain(f"cannot write to the folder {folder} ({err})")) from err
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_url(url, out, max_bytes=max_bytes, timeout=timeout, user_agent=user_agent, explain=explain)
        problem = _size_or_hash_problem(tmp, sha256, size)
        if problem:
            raise DownloadError(explain(problem))
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def sha256_of(path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes as 64 hex digits, read ``chunk`` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_url(url: str, out, *, max_bytes: int, timeout: float, user_agent: str, explain: Explain) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            copied = copy_limited(response, out, max_bytes)
    except urllib.error.HTTPError as err:
        raise DownloadError(explain(f"HTTP {err.code} {err.reason}")) from err
    except urllib.error.URLError as err:
        raise DownloadError(explain(f"cannot reach the server ({err.reason})")) from err
    except (OSError, ValueError) as err:  # timeouts, resets, malformed URLs
        raise DownloadError(explain(f"{type(err).__name__}: {err}")) from err
    if copied is None:
        raise DownloadError(explain(f"the server sent more than {_amount(max_bytes)}"))
    if copied == 0:
        raise DownloadError(explain("the server sent an empty response"))


def _size_or_hash_problem(path: Path, sha256: str | None, size: int | None) -> str | None:
    """``None`` when ``path`` has the expected size and SHA-256 (each checked only when given), else why not."""
    if size is not None and path.stat().st_size != size:
        return f"{path.stat().st_size:,} bytes arrived, {size:,} expected (an incomplete or different file)"
    if sha256:
        digest = sha256_of(path)
        if not digest.startswith(sha256.lower()):
            return (f"its SHA-256 starts with {digest[:len(sha256)]}, {sha256.lower()} expected "
                    "(a damaged or different file)")
    return None


def _amount(n_bytes: int) -> str:
    return f"{n_bytes >> 20} MiB" if n_bytes >= 1 << 20 else f"{n_bytes:,} bytes"


def _plain_explanation(url: str, destination: Path) -> Explain:
    def explain(reason: str) -> str:
        return (f"could not download {url} into {destination}: {reason}.\n"
                f"To fix it, check the network connection and try again, or download the file by hand "
                f"and save it at {destination} (set {CACHE_ENV} to use another cache folder).")
    return explain
