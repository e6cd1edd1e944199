"""Named images: small samples bundled in ``data/`` and famous paintings fetched on first use.

Bundled samples need no network. They live in the repository's top-level ``data/``
folder (``helpers/_data/`` in an installed wheel; override with ``$KIT_DATA_DIR``);
provenance and licences are in ``data/LICENSES.md``.

Paintings are public-domain works downloaded once from Wikimedia Commons into a cache
folder (:func:`cache_dir`): ``$KIT_CACHE_DIR/paintings`` when that variable is set,
otherwise ``$XDG_CACHE_HOME/cnn-kit/paintings`` or ``~/.cache/cnn-kit/paintings``.
Run :func:`prefetch_paintings` while online to fill the cache for an offline lab;
a file saved by hand under the cache path works just as well.

Load any of them with ``helpers.images.load_image("<name>")``.
"""
from __future__ import annotations

import difflib
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .cache import CACHE_ENV, kit_cache_dir
from .downloads import DOWNLOAD_TIMEOUT_S, fetch_to_cache
from .errors import DownloadError, ImageLoadError

DATA_ENV = "KIT_DATA_DIR"
KINDS = ("content", "texture")

# Wikimedia asks automated clients to identify themselves.
MAX_DOWNLOAD_BYTES = 40 * 1024 * 1024
#: A downloaded painting with more pixels than this is refused (a decompression-bomb guard).
MAX_DOWNLOAD_PIXELS = 50_000_000


# --------------------------------------------------------------------------- names


def normalise_name(name: str) -> str:
    """``"Starry Night"`` / ``"starry-night"`` → ``"starry_night"`` (the registry key form)."""
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def did_you_mean(name: str, choices) -> str:
    """A hint naming the registry keys closest to a mistyped name, for an error message.

    Args:
        name: the name as the user typed it (normalised with :func:`normalise_name` first).
        choices: the valid names (registry keys such as those of :data:`SAMPLES`).

    Returns:
        ``" Did you mean 'a', 'b'?"`` (a leading space, up to three names), or ``""`` when
        no name is close.
    """
    close = difflib.get_close_matches(normalise_name(name), list(choices), n=3, cutoff=0.6)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


# --------------------------------------------------------------------------- bundled samples


@dataclass(frozen=True)
class Sample:
    """One bundled image: registry entry plus provenance (mirrored in ``data/LICENSES.md``)."""

    name: str
    kind: str  # "content" or "texture"
    filename: str
    description: str
    origin: str
    author: str
    licence: str
    changes: str


_SKIMAGE = "scikit-image's bundled data (skimage.data)"

SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample("astronaut", "content", "astronaut.jpg",
               "portrait of astronaut Eileen Collins, 512x512 colour",
               f"{_SKIMAGE}, astronaut(); NASA Great Images database", "NASA",
               "public domain (no known copyright restrictions)", "re-encoded as JPEG q90"),
        Sample("chelsea", "content", "chelsea.jpg",
               "Chelsea the cat, close-up with fur and whiskers, 451x300 colour",
               f"{_SKIMAGE}, chelsea()", "Stefan van der Walt", "CC0",
               "re-encoded as JPEG q90"),
        Sample("coffee", "content", "coffee.jpg",
               "espresso cup on a wooden table, 512x341 colour",
               f"{_SKIMAGE}, coffee(); courtesy of Pikolo Espresso Bar", "Rachel Michetti", "CC0",
               "resized from 600x400 (Lanczos), JPEG q90"),
        Sample("rocket", "content", "rocket.jpg",
               "Falcon 9 with DSCOVR on the launch pad at dusk, 512x342 colour",
               f"{_SKIMAGE}, rocket(); SpaceX Photos on Flickr", "SpaceX", "public domain",
               "resized from 640x427 (Lanczos), JPEG q90"),
        Sample("brick", "texture", "brick.jpg",
               "brick wall, 512x512 greyscale texture",
               f"{_SKIMAGE}, brick(); originally CC0Textures 'Bricks25'", "CC0Textures", "CC0",
               "re-encoded as greyscale JPEG q90 (skimage had already warped, cropped, greyed it)"),
        Sample("grass", "texture", "grass.jpg",
               "grass, 512x512 greyscale texture",
               f"{_SKIMAGE}, grass(); originally DeviantArt 'Grass-01'", "linolafett (DeviantArt)", "CC0",
               "re-encoded as greyscale JPEG q90 (skimage had already cropped and greyed it)"),
        Sample("gravel", "texture", "gravel.jpg",
               "gravel, 512x512 greyscale texture",
               f"{_SKIMAGE}, gravel(); originally CC0Textures 'Gravel04'", "CC0Textures", "CC0",
               "re-encoded as greyscale JPEG q90 (skimage had already rescaled, cropped, greyed it)"),
        Sample("hubble", "texture", "hubble.jpg",
               "galaxies of the Hubble eXtreme Deep Field, 512x512 colour texture",
               f"{_SKIMAGE}, hubble_deep_field(); HubbleSite release 2012-37", "NASA / ESA",
               "public domain (NASA media guidelines)",
               "centre 512x512 crop of the 1000x872 original at full resolution, JPEG q90"),
        Sample("ihc", "texture", "ihc.jpg",
               "immunohistochemistry micrograph of colonic glands (brown and blue stain), 512x512 colour texture",
               f"{_SKIMAGE}, immunohistochemistry(); Center for Microscopy And Molecular Imaging (CMMI)",
               "CMMI", "no known copyright restrictions (as stated by scikit-image)",
               "re-encoded as JPEG q90"),
        Sample("wood", "texture", "wood.jpg",
               "wood grain of a table top, 115x290 colour texture",
               f"{_SKIMAGE}, coffee(); courtesy of Pikolo Espresso Bar", "Rachel Michetti", "CC0",
               "crop rows 110-400, columns 485-600 of coffee(), JPEG q90"),
    )
}


def data_dir() -> Path:
    """Folder holding the bundled samples.

    ``$KIT_DATA_DIR`` if set; else the repository's top-level ``data/`` (a source
    checkout or editable install); else ``helpers/_data/`` (where an installed wheel
    carries the same files).

    Raises:
        ImageLoadError: no such folder exists (the message says how to point at it).
    """
    override = os.environ.get(DATA_ENV)
    if override:
        candidates = [Path(override).expanduser()]
    else:
        package = Path(__file__).resolve().parent
        candidates = [package.parent / "data", package / "_data"]
    for folder in candidates:
        if folder.is_dir():
            return folder
    source = f"${DATA_ENV}={override!r}" if override else "the kit's data/ folder"
    raise ImageLoadError(
        f"bundled sample folder not found (looked for {', '.join(str(c) for c in candidates)}, "
        f"from {source}). Install the kit from a source checkout (pip install -e .) or as a wheel, "
        f"or set {DATA_ENV} to the folder that holds astronaut.jpg, chelsea.jpg, ... "
        "(the kit's data/ folder)."
    )


def samples(kind: str | None = None) -> list[str]:
    """Names of the bundled samples, optionally only one ``kind`` (``"content"``/``"texture"``)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown sample kind {kind!r}; expected one of {', '.join(KINDS)} or None")
    return [name for name, s in SAMPLES.items() if kind is None or s.kind == kind]


def list_samples(kind: str | None = None) -> dict[str, str]:
    """``{name: "kind: description"}`` of the bundled samples (no file access)."""
    return {name: f"{SAMPLES[name].kind}: {SAMPLES[name].description}" for name in samples(kind)}


def sample_info(name: str) -> Sample:
    """Registry entry of a bundled sample; unknown names raise ``ImageLoadError`` listing valid ones."""
    key = normalise_name(name)
    if key not in SAMPLES:
        raise ImageLoadError(
            f"unknown sample name {name!r}.{did_you_mean(name, SAMPLES)} "
            f"Bundled samples: {', '.join(SAMPLES)}."
        )
    return SAMPLES[key]


def sample_path(name: str) -> Path:
    """Path of a bundled sample's file (checked to exist)."""
    info = sample_info(name)
    path = data_dir() / info.filename
    if not path.is_file():
        raise ImageLoadError(
            f"bundled sample {info.name!r} is missing: {path} does not exist. Restore the data/ "
            f"folder from the repository (or rebuild it with 'python data/make_samples.py'), "
            f"or point {DATA_ENV} at a complete copy."
        )
    return path


# --------------------------------------------------------------------------- paintings


@dataclass(frozen=True)
class Painting:
    """A public-domain painting fetched on first use from Wikimedia Commons.

    ``url`` is a plain field so that a mirror (a course server, a ``file://`` copy)
    can be swapped in with ``dataclasses.replace(PAINTINGS[name], url=...)``.
    """

    name: str
    title: str
    artist: str
    year: str
    status: str  # why it is in the public domain
    commons_file: str  # file name on Wikimedia Commons
    url: str

    @property
    def source_page(self) -> str:
        return "https://commons.wikimedia.org/wiki/File:" + urllib.parse.quote(self.commons_file.replace(" ", "_"))

    @property
    def label(self) -> str:
        return f"{self.title}, {self.artist}, {self.year}"


def _commons_url(commons_file: str, width: int = 1024) -> str:
    """A ~``width`` px wide rendering of a Commons file, addressed by its stable file name."""
    # Special:FilePath redirects to the current upload.wikimedia.org thumbnail, so the
    # URL stays valid even if Commons changes its storage paths.
    return ("https://commons.wikimedia.org/wiki/Special:FilePath/"
            + urllib.parse.quote(commons_file.replace(" ", "_")) + f"?width={width}")


def _painting(name, title, artist, year, status, commons_file) -> Painting:
    return Painting(name, title, artist, year, status, commons_file, _commons_url(commons_file))


_PD_OLD = "public domain: artist died more than 100 years ago (PD-Art on Wikimedia Commons)"
_PD_70 = "public domain: artist died in 1944, more than 70 years ago; published before 1930 (US)"

PAINTINGS: dict[str, Painting] = {
    p.name: p
    for p in (
        _painting("starry_night", "The Starry Night", "Vincent van Gogh", "1889", _PD_OLD,
               "Van Gogh - Starry Night - Google Art Project.jpg"),
        _painting("great_wave", "The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1831", _PD_OLD,
               "The Great Wave off Kanagawa.jpg"),
        _painting("the_scream", "The Scream", "Edvard Munch", "1893", _PD_70,
               "Edvard Munch, 1893, The Scream, oil, tempera and pastel on cardboard, "
               "91 x 73 cm, National Gallery of Norway.jpg"),
        _painting("composition_vii", "Composition VII", "Wassily Kandinsky", "1913", _PD_70,
               "Vassily Kandinsky, 1913 - Composition 7.jpg"),
        _painting("impression_sunrise", "Impression, Sunrise", "Claude Monet", "1872", _PD_OLD,
               "Monet - Impression, Sunrise.jpg"),
        _painting("fighting_temeraire", "The Fighting Temeraire", "J. M. W. Turner", "1839", _PD_OLD,
               "Turner, J. M. W. - The Fighting Téméraire tugged to her last Berth to be broken.jpg"),
    )
}


def list_paintings() -> dict[str, str]:
    """``{name: "Title, Artist, year"}`` of the paintings that can be fetched."""
    return {name: p.label for name, p in PAINTINGS.items()}


def painting_info(name: str) -> Painting:
    """Registry entry of a painting; unknown names raise ``ImageLoadError`` listing valid ones."""
    key = normalise_name(name)
    if key not in PAINTINGS:
        raise ImageLoadError(
            f"unknown painting name {name!r}.{did_you_mean(name, PAINTINGS)} "
            f"Paintings: {', '.join(PAINTINGS)}."
        )
    return PAINTINGS[key]


def cache_dir() -> Path:
    """Folder where fetched paintings are kept (not created here).

    ``$KIT_CACHE_DIR/paintings`` if ``KIT_CACHE_DIR`` is set, else
    ``$XDG_CACHE_HOME/cnn-kit/paintings``, else ``~/.cache/cnn-kit/paintings``.
    """
    return kit_cache_dir("paintings")


def painting_cache_path(name: str) -> Path:
    """Where painting ``name`` is (or will be) cached; a hand-downloaded file can go here."""
    return cache_dir() / f"{painting_info(name).name}.jpg"


def painting_path(name: str, *, download: bool = True, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Path of the cached painting, fetching it first if it is missing or unreadable.

    Raises:
        DownloadError: not cached and the download failed (or ``download=False``);
            the message names the URL, the cache path for a manual copy and offline
            alternatives.
    """
    painting = painting_info(name)
    target = painting_cache_path(painting.name)
    if target.is_file() and _decode_problem(target) is None:
        return target
    if not download:
        raise DownloadError(_offline_message(painting, target, "it is not in the cache and download=False"))
    return fetch_painting(painting.name, force=True, timeout=timeout)


def fetch_painting(name: str, *, force: bool = False, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download painting ``name`` into the cache and return its path.

    An existing cached copy is kept unless ``force``. The download goes to a temporary
    file in the cache folder, is checked to decode as an image, then renamed into place
    (:func:`helpers.downloads.fetch_to_cache`), so an interrupted or failed fetch never
    leaves a broken file under the cache name.
    """
    painting = painting_info(name)
    target = painting_cache_path(painting.name)
    if target.is_file() and not force:
        return target
    return fetch_to_cache(painting.url, target, max_bytes=MAX_DOWNLOAD_BYTES, timeout=timeout,
                          check=_not_an_image,
                          explain=lambda reason: _offline_message(painting, target, reason))


def prefetch_paintings(names=None, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> dict[str, Path]:
    """Fetch every painting (or those in ``names``) not yet cached; returns ``{name: path}``.

    Use it while online before an offline lab or exam.
    """
    chosen = list(PAINTINGS) if names is None else [painting_info(n).name for n in names]
    return {name: painting_path(name, timeout=timeout) for name in chosen}


def _not_an_image(path: Path) -> str | None:
    """``None`` if a downloaded file is a readable image within the pixel limit, else why it is refused."""
    problem = _decode_problem(path)
    return f"the server sent something that is not a readable image ({problem})" if problem else None


def _decode_problem(path: Path) -> str | None:
    """``None`` if ``path`` decodes as an image of at most :data:`MAX_DOWNLOAD_PIXELS`, else a short reason.

    PIL alone, not :func:`helpers.images.load_image`: ``images`` imports this module, never
    the other way round.
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the check below decides
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_DOWNLOAD_PIXELS:
                    return f"{w}×{h} pixels, more than the limit of {MAX_DOWNLOAD_PIXELS:,}"
                img.load()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, zlib/struct errors...
        return f"{type(err).__name__}: {err}"
    return None


def _offline_message(p: Painting, target: Path, reason: str) -> str:
    textures = ", ".join(samples("texture"))
    return (
        f"could not fetch painting {p.name!r} ({p.label}): {reason}.\n"
        f"  URL: {p.url}\n"
        f"To fix it, either connect to the internet and try again (or run "
        f"`python -m helpers download paintings` while online), or download the image by hand "
        f"from {p.source_page} and save it as\n"
        f"  {target}\n"
        f"(any common image format works under that name; set {CACHE_ENV} to use another cache "
        f"folder). Without a network, use a bundled sample instead, e.g. load_image('hubble'); "
        f"textures: {textures}."
    )

