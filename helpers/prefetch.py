"""``python -m helpers download {paintings,styles,weights,all} [--list]``: fill the caches for offline work.

One command for everything the kit downloads:

* ``paintings [names…]`` — the public-domain style paintings (:mod:`helpers.samples`),
  into ``$KIT_CACHE_DIR/paintings`` (see :mod:`helpers.cache`);
* ``styles [--url URL]`` — the official fast style-transfer checkpoints
  (:mod:`helpers.pretrained_styles`), into ``<torch hub dir>/checkpoints/fast_neural_style``;
* ``weights [names…]`` — pretrained ImageNet weights (:mod:`helpers.weights`), into
  ``<torch hub dir>/checkpoints``;
* ``all`` — the three above.

``--list`` shows what is cached instead of downloading (``--verify`` also hashes every
cached weight file). The exit status is 0 when everything worked, 1 when a download
failed, 2 for an unknown weights name.

``python -m helpers paintings|styles|weights {prefetch,list}`` are aliases of this
command (:func:`paintings_alias`, :func:`styles_alias`, :func:`weights_alias`), kept
because course instructions and error messages name them.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

KINDS = ("paintings", "styles", "weights")

#: What each alias fetched, as its ``--help`` said.
_ALIAS_DESCRIPTIONS = {
    "paintings": "Public-domain paintings used as styles, cached on first use.",
    "styles": "Pretrained fast style-transfer networks (PyTorch's official example).",
    "weights": "Manage pretrained ImageNet weights in the torch hub cache.",
}


def main(argv: list[str]) -> int:
    """``python -m helpers download …``; returns the exit status (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m helpers download",
                                     description="Download what the notebooks use into the caches, "
                                                 "so they run offline.")
    parser.add_argument("what", choices=(*KINDS, "all"), help="what to download")
    parser.add_argument("names", nargs="*",
                        help="paintings or weights to fetch (default: all of them); not for styles or all")
    parser.add_argument("--list", action="store_true", help="show what is cached instead of downloading")
    parser.add_argument("--verify", action="store_true", help="with --list: hash every cached weight file now")
    parser.add_argument("--url", help="styles: the zip to fetch (default: the official one)")
    args = parser.parse_args(argv)
    if args.names and args.what not in ("paintings", "weights"):
        parser.error(f"`download {args.what}` takes no names (got {' '.join(args.names)})")
    return download(args.what, args.names, listing=args.list, verify=args.verify, url=args.url)


def download(what: str, names: Sequence[str] = (), *, listing: bool = False, verify: bool = False,
             url: str | None = None) -> int:
    """Fetch ``what`` into its cache (or, with ``listing``, print what is cached), reporting each file.

    Args:
        what: ``"paintings"``, ``"styles"``, ``"weights"`` or ``"all"``.
        names: the paintings or weights to fetch; empty: all of them.
        listing: print one line per file (cached or missing) instead of downloading.
        verify: with ``listing``, hash every cached weight file now.
        url: the styles zip to fetch; ``None``: the official one.

    Returns:
        The exit status: 0 when everything worked, 1 when a download failed, 2 for an
        unknown weights name.
    """
    kinds = KINDS if what == "all" else (what,)
    status = 0
    for kind in kinds:
        if len(kinds) > 1:
            print(f"== {kind}")
        status = max(status, _ACTIONS[kind](list(names), listing=listing, verify=verify, url=url))
    return status


def paintings_alias(argv: list[str]) -> int:
    """``python -m helpers paintings {list, prefetch [names…]}``: ``download paintings [names…] [--list]``."""
    return _alias("paintings", argv)


def styles_alias(argv: list[str]) -> int:
    """``python -m helpers styles {list, prefetch [--url URL]}``: ``download styles [--url URL] [--list]``."""
    return _alias("styles", argv)


def weights_alias(argv: list[str]) -> int:
    """``python -m helpers weights {list [--verify], prefetch [names…|all]}``: ``download weights …``."""
    return _alias("weights", argv)


def _alias(kind: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m helpers {kind}",
                                     description=f"{_ALIAS_DESCRIPTIONS[kind]} An alias of "
                                                 f"`python -m helpers download {kind}` (`list` is `--list`).")
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="show what is cached")
    prefetch = sub.add_parser("prefetch", help="download into the cache (default: all)")
    if kind == "weights":
        from helpers.weights import ARCHITECTURES

        listing.add_argument("--verify", action="store_true", help="hash every cached file now")
        prefetch.add_argument("names", nargs="*", help=f"architectures ({', '.join(ARCHITECTURES)}, vgg16-caffe) "
                                                       "or 'all'")
    elif kind == "paintings":
        prefetch.add_argument("names", nargs="*")
    else:
        prefetch.add_argument("--url", default=None, help="zip to fetch (default: the official one)")
    args = parser.parse_args(argv)
    return download(kind, getattr(args, "names", ()), listing=args.action == "list",
                    verify=getattr(args, "verify", False), url=getattr(args, "url", None))


def _paintings(names: list[str], *, listing: bool, **_) -> int:
    from helpers import samples
    from helpers.errors import DownloadError, ImageLoadError

    if listing:
        for name, label in samples.list_paintings().items():
            cached = samples.painting_cache_path(name).is_file()
            print(f"{name:<20} {'cached ' if cached else 'missing'}  {label}")
        print(f"cache: {samples.cache_dir()}")
        return 0
    failures = 0
    for name in names or list(samples.PAINTINGS):
        try:
            print(f"ok      {name}  {samples.painting_path(name)}")
        except (DownloadError, ImageLoadError) as exc:
            failures += 1
            print(f"FAILED  {name}: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _styles(names: list[str], *, listing: bool, url: str | None, **_) -> int:
    from helpers import pretrained_styles
    from helpers.errors import DownloadError

    if listing:
        for name in pretrained_styles.OFFICIAL_STYLES:
            path = pretrained_styles.official_style_path(name)
            print(f"{name:<14} {'cached ' if path.is_file() else 'missing'}  {path}")
        return 0
    try:
        for name, path in pretrained_styles.prefetch_styles(url or pretrained_styles.OFFICIAL_ZIP_URL).items():
            print(f"ok      {name}  {path}")
    except DownloadError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def _weights(names: list[str], *, listing: bool, verify: bool, **_) -> int:
    from helpers import weights
    from helpers.errors import CorruptWeightsError, WeightsUnavailableError

    if listing:
        for name, state, path in weights.status_rows(verify=verify):
            print(f"{name:<40} {state:<28} {path}")
        return 0
    try:
        targets = weights.parse_names(names)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failures = 0
    for w in targets:
        try:
            path = weights.ensure_cached(w, download=True)
            print(f"ok      {w}  {path}")
        except (WeightsUnavailableError, CorruptWeightsError) as exc:
            failures += 1
            print(f"FAILED  {w}: {exc}", file=sys.stderr)
    print(f"cache: {weights.checkpoints_dir()}")
    return 1 if failures else 0


_ACTIONS = {"paintings": _paintings, "styles": _styles, "weights": _weights}
