"""Classical non-parametric texture synthesis after Wei & Levoy (2000).

Reference: Li-Yi Wei and Marc Levoy, "Fast Texture Synthesis using Tree-structured
Vector Quantization", SIGGRAPH 2000, pp. 479-488. Section numbers below refer to that
paper: §3.1 single-resolution synthesis with a causal neighbourhood, §3.2 edge handling
(the output is treated as a torus), §3.3 multi-resolution synthesis (Gaussian pyramids,
neighbourhoods spanning two levels), §3.4 acceleration with tree-structured vector
quantisation (TSVQ).

The algorithm, as implemented here:

1. Build a Gaussian pyramid of the sample (``levels`` levels, level 0 = full size, each
   coarser level blurred with a Gaussian of σ = 1 pixel and subsampled by 2).
2. Initialise every level of the output pyramid with noise whose colour histogram is the
   sample's: each output pixel is a copy of a uniformly random pixel of the sample level.
3. Synthesise the levels from coarse to fine. Within a level, visit the output pixels in
   scanline order (top to bottom, left to right). For each pixel build its neighbourhood
   vector: the causal L-shaped half of an ``n x n`` window at the current level
   (:func:`neighbourhood_mask`; the pixels already synthesised) and, below the top
   level, the *full* ``n' x n'`` window around the parent pixel ``(y // 2, x // 2)`` at the
   next coarser level, which is already complete. Output neighbourhoods wrap around
   (toroidal boundary, §3.2); at the start of a level the wrapped pixels are still noise,
   which seeds the synthesis.
4. Find the sample location whose neighbourhood vector is closest in L2 and copy the sample
   pixel at its centre. Only sample locations whose neighbourhoods lie fully inside the
   sample are candidates (no wrap in the sample), so every choice is a real sample location.

Nearest-neighbour search. ``search="exhaustive"`` compares against every candidate with
NumPy. ``search="tsvq"`` is the paper's tree-structured vector quantisation (approximate).
``search="tree"`` uses an exact k-d tree (:class:`scipy.spatial.cKDTree`) over the
same vectors in place of the paper's TSVQ: TSVQ returns an approximate nearest neighbour,
the k-d tree the exact one, so both modes pick the same pixel. Neighbourhood values are
rounded to multiples of 1/4096 for matching (far below the 1/255 step of an 8-bit image);
with that grid every squared distance is computed exactly in float64, and ties are broken
the same way in both modes (the candidate first in scanline order of the sample wins).

Which search is fastest depends on the sizes. The neighbourhood vectors have 40-100
dimensions (n = 5: 12 causal pixels plus 9 coarse pixels, times 3 colours = 63), where a
k-d tree prunes poorly, so for samples of a few thousand candidate locations the exhaustive
search, one BLAS matrix-vector product per pixel, is usually faster than the exact tree.
TSVQ is fast because it gives up exactness.

Images at the API boundary are float tensors ``[1, 3, H, W]`` in ``[0, 1]``, RGB. Inside,
images are NumPy ``float64`` arrays ``H x W x 3``. Coordinates are ``(row, column)`` in pixels.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

__all__ = [
    "MAX_OUTPUT_SIDE",
    "SynthesisResult",
    "coarse_neighbourhood_size",
    "draw_neighbourhood",
    "neighbourhood_mask",
    "synthesize",
]

#: Largest output side (pixels) :func:`synthesize` accepts; the per-pixel loop is Python.
MAX_OUTPUT_SIDE = 512
#: Largest number of pyramid levels :func:`synthesize` accepts.
MAX_LEVELS = 8
#: Neighbourhood values are rounded to multiples of ``1 / QUANT`` for matching.
QUANT = 4096.0
#: Standard deviation (pixels) of the Gaussian blur before each 2x subsampling.
PYRAMID_SIGMA = 1.0

_SEARCHES = ("auto", "tree", "exhaustive", "tsvq")
#: ``search="auto"`` uses the exhaustive search up to this many candidate locations per level
#: and the k-d tree above (BENCHMARKS.md §6 on a 2-core CPU: with a 64×64 sample, about 3 700
#: candidates, exhaustive was 6.5× faster than the tree; with 128×128, about 15 000, the
#: tree was 1.3× faster). Both are exact, so the choice never changes the output.
AUTO_EXHAUSTIVE_MAX_CANDIDATES = 10_000


def exact_search_for(candidates: int) -> str:
    """The exact search ``"auto"`` uses for a level with ``candidates`` sample locations."""
    return "exhaustive" if candidates <= AUTO_EXHAUSTIVE_MAX_CANDIDATES else "tree"


# --------------------------------------------------------------------------- neighbourhoods


def _check_neighbourhood(n, name: str = "neighbourhood") -> int:
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise ValueError(f"{name} must be an odd integer >= 3, got {n!r}")
    n = int(n)
    if n < 3 or n % 2 == 0:
        raise ValueError(f"{name} must be an odd integer >= 3 (the window is centred on a pixel), got {n}")
    return n


def neighbourhood_mask(n: int) -> np.ndarray:
    """The causal L-shaped neighbourhood of Wei & Levoy (§3.1, their Figure 3).

    Returns a ``bool`` array ``[n, n]``: ``True`` marks a pixel of the ``n x n`` window centred
    on the current pixel that has already been synthesised in scanline order, i.e. all rows
    above the centre and the pixels left of the centre in its row. The centre (current
    pixel) and every later pixel are ``False``; there are ``(n * n - 1) // 2`` ``True`` entries.
    ``n`` must be odd and at least 3.
    """
    n = _check_neighbourhood(n)
    h = n // 2
    mask = np.zeros((n, n), dtype=bool)
    mask[:h, :] = True
    mask[h, :h] = True
    return mask


def coarse_neighbourhood_size(n: int) -> int:
    """Side ``n'`` of the full window taken at the next coarser level for a fine window ``n``.

    The paper uses a smaller window at the coarser level (e.g. 5x5 at the current level with
    3x3 one level up, §3.3). Here ``n' = max(3, largest odd number <= n // 2 + 1)``:
    3 -> 3, 5 -> 3, 7 -> 3, 9 -> 5, 11 -> 5.
    """
    n = _check_neighbourhood(n)
    m = n // 2 + 1
    if m % 2 == 0:
        m -= 1
    return max(3, m)


def draw_neighbourhood(n: int = 5, *, coarse: int | None = None, cell: int = 16) -> np.ndarray:
    """A picture of the neighbourhood N for a notebook (``float`` ``H x W x 3`` in ``[0, 1]``).

    Left: the ``n x n`` window at the current level, with the current pixel in red, the causal
    pixels used for matching in blue and the not-yet-synthesised pixels in light grey. When
    ``coarse`` is given (an odd window side, e.g. :func:`coarse_neighbourhood_size`), a second
    panel on the right shows that full window at the next coarser level in green, with its
    centre (the parent of the current pixel) outlined in red. Each pixel is ``cell`` x ``cell``
    screen pixels with a dark grid line between them. Show it with ``plt.imshow``.
    """
    n = _check_neighbourhood(n)
    if isinstance(cell, bool) or not isinstance(cell, Integral) or cell < 4:
        raise ValueError(f"cell must be an integer >= 4 (screen pixels per pixel), got {cell!r}")
    cell = int(cell)
    red, blue, grey, green = (0.85, 0.1, 0.1), (0.2, 0.35, 0.85), (0.88, 0.88, 0.88), (0.25, 0.7, 0.3)
    line = (0.15, 0.15, 0.15)

    def panel(side: int, colours: np.ndarray) -> np.ndarray:
        img = np.empty((side * cell + 1, side * cell + 1, 3))
        img[:] = line
        for r in range(side):
            for c in range(side):
                img[r * cell + 1:(r + 1) * cell, c * cell + 1:(c + 1) * cell] = colours[r, c]
        return img

    mask = neighbourhood_mask(n)
    colours = np.empty((n, n, 3))
    colours[:] = grey
    colours[mask] = blue
    colours[n // 2, n // 2] = red
    left = panel(n, colours)
    if coarse is None:
        return left
    m = _check_neighbourhood(coarse, "coarse")
    colours = np.empty((m, m, 3))
    colours[:] = green
    right = panel(m, colours)
    c0 = (m // 2) * cell
    border = max(1, cell // 8)
    sl = slice(c0, c0 + cell + 1)
    right[c0:c0 + border + 1, sl] = red
    right[c0 + cell - border:c0 + cell + 1, sl] = red
    right[sl, c0:c0 + border + 1] = red
    right[sl, c0 + cell - border:c0 + cell + 1] = red
    gap = cell
    height = max(left.shape[0], right.shape[0])
    out = np.ones((height, left.shape[1] + gap + right.shape[1], 3))
    top_l = (height - left.shape[0]) // 2
    top_r = (height - right.shape[0]) // 2
    out[top_l:top_l + left.shape[0], :left.shape[1]] = left
    out[top_r:top_r + right.shape[0], left.shape[1] + gap:] = right
    return out


# --------------------------------------------------------------------------- images and pyramids


def _to_array(sample) -> np.ndarray:
    """``[1, C, H, W]`` / ``[C, H, W]`` tensor (or array) with C in {1, 3} -> ``H x W x 3`` float64."""
    if isinstance(sample, torch.Tensor):
        arr = sample.detach().to("cpu", torch.float64).numpy()
    elif isinstance(sample, np.ndarray):
        arr = np.asarray(sample, dtype=np.float64)
    else:
        raise ValueError(f"sample must be a tensor [1, 3, H, W], got {type(sample).__name__}")
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ValueError(f"sample must hold one image [1, 3, H, W], got shape {tuple(arr.shape)}")
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] not in (1, 3):
        raise ValueError(f"sample must have shape [1, 3, H, W] (or [1, 1, H, W]), got {tuple(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("sample contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"sample values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    arr = np.moveaxis(arr, 0, -1)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` array -> float32 tensor ``[1, 3, H, W]``."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(img, -1, 0)[None]).astype(np.float32))


def _gaussian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """Level 0 = ``img``; level k+1 = Gaussian blur (σ = :data:`PYRAMID_SIGMA`) of level k, every
    second row and column. Sides shrink as ``ceil(side / 2)``. The sample is not periodic, so
    the blur reflects at the border."""
    pyr = [img]
    for _ in range(levels - 1):
        blurred = gaussian_filter(pyr[-1], sigma=(PYRAMID_SIGMA, PYRAMID_SIGMA, 0), mode="reflect")
        pyr.append(np.ascontiguousarray(blurred[::2, ::2]))
    return pyr


def _quantise(a: np.ndarray) -> np.ndarray:
    return np.round(a * QUANT) / QUANT


def _level_sizes(h: int, w: int, levels: int) -> list[tuple[int, int]]:
    sizes = [(h, w)]
    for _ in range(levels - 1):
        h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return sizes


def _valid_sources(shape: tuple[int, int], coarse_shape: tuple[int, int] | None, n: int, nc: int) -> np.ndarray:
    """``bool [h, w]``: sample locations whose causal ``n x n`` neighbourhood lies inside the
    sample level, and (when ``coarse_shape`` is given) whose parent's full ``nc x nc`` window
    lies inside the coarser sample level."""
    h, w = shape
    r = n // 2
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    ok = (ys >= r) & (xs >= r) & (xs <= w - 1 - r)
    if coarse_shape is not None:
        hc, wc = coarse_shape
        rc = nc // 2
        py, px = ys // 2, xs // 2
        ok &= (py >= rc) & (py <= hc - 1 - rc) & (px >= rc) & (px <= wc - 1 - rc)
    return ok


# --------------------------------------------------------------------------- search


class _Searcher:
    """Nearest neighbour over the rows of ``X`` (``[N, D]`` float64 on the 1/4096 grid).

    On that grid every product and sum below is a multiple of 2**-24 small enough for
    float64, so squared distances are exact whatever the summation order (BLAS included):
    the minimum and its ties are exact, and the lowest row index among the ties wins in both
    exact modes. ``"tsvq"`` is the paper's approximate search (:class:`_TSVQ`).
    """

    def __init__(self, X: np.ndarray, mode: str):
        self.X = X
        self.mode = mode
        self.tree = cKDTree(X) if mode == "tree" else None
        self.tsvq = _TSVQ(X) if mode == "tsvq" else None
        self.xx = np.einsum("ij,ij->i", X, X)

    def __call__(self, v: np.ndarray) -> int:
        X = self.X
        if self.mode == "exhaustive":
            # |x - v|^2 = |x|^2 - 2 x.v + |v|^2; |v|^2 is the same for every row.
            return int(np.argmin(self.xx - 2.0 * (X @ v)))
        if self.mode == "tsvq":
            return self.tsvq.query(v)
        dist, idx = self.tree.query(v, k=1)
        near = self.tree.query_ball_point(v, r=dist * (1.0 + 1e-9) + 1e-12)
        if len(near) <= 1:
            return int(idx)
        near = np.sort(np.asarray(near, dtype=np.intp))
        return int(near[np.argmin(self.xx[near] - 2.0 * (X[near] @ v))])


class _TSVQ:
    """Tree-structured vector quantisation (§3.4): a binary tree built by recursive 2-means.

    Each inner node holds two codewords (the centroids of its halves); a query descends to the
    child with the nearer codeword and searches its leaf (at most ``leaf_size`` vectors)
    exhaustively. ``O(log N)`` per query, but approximate: the true nearest neighbour may sit in
    another leaf. The build is deterministic (farthest-point initialisation, fixed iterations).
    """

    def __init__(self, X: np.ndarray, leaf_size: int = 16, iterations: int = 6):
        self.X = X
        self.leaf_size = leaf_size
        self.iterations = iterations
        self.root = self._build(np.arange(len(X)))

    def _build(self, idx: np.ndarray):
        P = self.X[idx]
        if len(idx) <= self.leaf_size:
            return idx
        a = P[np.argmax(np.sum((P - P.mean(0)) ** 2, axis=1))]
        b = P[np.argmax(np.sum((P - a) ** 2, axis=1))]
        side = None
        for _ in range(self.iterations):
            side = np.sum((P - b) ** 2, axis=1) < np.sum((P - a) ** 2, axis=1)
            if side.all() or not side.any():
                return idx                       # identical vectors: cannot split
            a, b = P[~side].mean(0), P[side].mean(0)
        return (a, b, self._build(idx[~side]), self._build(idx[side]))

    def query(self, v: np.ndarray) -> int:
        node = self.root
        while isinstance(node, tuple):
            a, b, left, right = node
            da, db = a - v, b - v
            node = right if db @ db < da @ da else left
        d = np.sum((self.X[node] - v) ** 2, axis=1)
        return int(node[np.argmin(d)])


# --------------------------------------------------------------------------- synthesis


@dataclass
class SynthesisResult:
    """What :func:`synthesize` returns.

    * ``image``: float32 tensor ``[1, 3, H, W]`` in ``[0, 1]``, the finest output level.
    * ``stages``: the output of every level as ``[1, 3, h, w]`` tensors, coarse -> fine (the
      last one equals ``image``); empty unless ``return_stages=True``.
    * ``source_coords``: ``int64 [H, W, 2]``; ``source_coords[y, x] = (row, col)`` of the
      sample pixel copied to output pixel ``(y, x)``, so ``image[0, :, y, x] ==
      sample[0, :, row, col]`` exactly.
    * ``valid_sources``: ``bool [h, w]`` over the full-size sample, the locations that were
      candidates at the finest level (their neighbourhoods lie fully inside the sample).
    * ``seconds``: wall-clock time of the synthesis.
    * ``levels``, ``neighbourhood``, ``coarse_neighbourhood``, ``search``, ``seed``: the settings used.
    """

    image: torch.Tensor
    stages: list = field(default_factory=list)
    source_coords: np.ndarray | None = None
    valid_sources: np.ndarray | None = None
    seconds: float = 0.0
    levels: int = 0
    neighbourhood: int = 0
    coarse_neighbourhood: int = 0
    search: str = "auto"
    seed: int | None = None


def _check_size(size) -> tuple[int, int]:
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        h, w = size
    except (TypeError, ValueError):
        raise ValueError(f"size must be an int or a pair (H, W) of ints, got {size!r}") from None
    for name, v in (("height", h), ("width", w)):
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise ValueError(f"size {name} must be an integer, got {v!r}")
        if v < 1:
            raise ValueError(f"size {name} must be >= 1, got {v}")
        if v > MAX_OUTPUT_SIDE:
            raise ValueError(f"size {name} {v} exceeds the maximum of {MAX_OUTPUT_SIDE} pixels "
                             "(the per-pixel loop is Python; ask for a smaller output)")
    return int(h), int(w)


def _check_settings(neighbourhood, coarse_neighbourhood, levels, search, size, seed):
    """``(n, n', levels, (H, W))`` of :func:`synthesize`'s arguments; ``ValueError`` naming a bad one."""
    n = _check_neighbourhood(neighbourhood)
    nc = coarse_neighbourhood_size(n) if coarse_neighbourhood is None else _check_neighbourhood(
        coarse_neighbourhood, "coarse_neighbourhood")
    if isinstance(levels, bool) or not isinstance(levels, Integral) or not 1 <= levels <= MAX_LEVELS:
        raise ValueError(f"levels must be an integer from 1 to {MAX_LEVELS}, got {levels!r}")
    if search not in _SEARCHES:
        raise ValueError(f"search must be one of {_SEARCHES}, got {search!r}")
    hw = _check_size(size)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    return n, nc, int(levels), hw


def _valid_per_level(spyr: list[np.ndarray], n: int, nc: int) -> list[np.ndarray]:
    """Per pyramid level, the sample locations with a whole causal window (and parent window)."""
    levels, (sh, sw) = len(spyr), spyr[0].shape[:2]
    valid = []
    for lev in range(levels):
        coarse_shape = spyr[lev + 1].shape[:2] if lev + 1 < levels else None
        ok = _valid_sources(spyr[lev].shape[:2], coarse_shape, n, nc)
        if not ok.any():
            hh, ww = spyr[lev].shape[:2]
            extra = f" and a full {nc}x{nc} window at level {lev + 1}" if coarse_shape else ""
            raise ValueError(
                f"sample of {sh}x{sw} pixels is too small for levels={levels}, neighbourhood={n}"
                f"{', coarse_neighbourhood=' + str(nc) if coarse_shape else ''}: pyramid level {lev} "
                f"is {hh}x{ww} and has no location with a causal {n}x{n} neighbourhood{extra} inside "
                "the sample; use a larger sample, fewer levels or a smaller neighbourhood")
        valid.append(ok)
    return valid


def _noise_coords(spyr: list[np.ndarray], out_sizes, rng: np.random.Generator) -> list[np.ndarray]:
    """Per level, ``[oh, ow, 2]`` sample coordinates of random pixels: noise with the sample's colours."""
    coords = []
    for lev, (oh, ow) in enumerate(out_sizes):
        hh, ww = spyr[lev].shape[:2]
        flat = rng.integers(0, hh * ww, size=oh * ow)
        coords.append(np.stack(np.unravel_index(flat, (hh, ww)), axis=-1).reshape(oh, ow, 2))
    return coords


def _candidate_vectors(spyr_q: list[np.ndarray], lev: int, valid: np.ndarray, n: int, nc: int):
    """``(X [N, D], cy, cx)``: the neighbourhood vector of every valid sample location of level
    ``lev`` (causal part, then the parent window), in scanline order, and the locations."""
    mask, r, rc = neighbourhood_mask(n), n // 2, nc // 2
    cy, cx = np.nonzero(valid)
    win = sliding_window_view(spyr_q[lev], (r + 1, n), axis=(0, 1))   # [h-r, w-n+1, 3, r+1, n]
    causal = np.moveaxis(win[..., mask[:r + 1]], -1, -2)               # [h-r, w-n+1, k, 3]
    feats = [causal[cy - r, cx - r].reshape(len(cy), -1)]
    if lev + 1 < len(spyr_q):
        cwin = sliding_window_view(spyr_q[lev + 1], (nc, nc), axis=(0, 1))  # [.., .., 3, nc, nc]
        cw = np.moveaxis(cwin[cy // 2 - rc, cx // 2 - rc], 1, -1)         # [N, nc, nc, 3]
        feats.append(cw.reshape(len(cy), -1))
    return np.ascontiguousarray(np.concatenate(feats, axis=1)), cy, cx


def _synthesize_level(spyr_q, coords, lev: int, searcher, cy, cx, n: int, nc: int) -> None:
    """Level ``lev`` in scanline order (toroidal output): each pixel takes the sample pixel
    whose neighbourhood best matches its own; writes the choices into ``coords[lev]``."""
    mask, r, rc = neighbourhood_mask(n), n // 2, nc // 2
    dy, dx = np.nonzero(mask)
    dy, dx = dy - r, dx - r
    sq, src = spyr_q[lev], coords[lev]
    oh, ow = src.shape[:2]
    out_q = sq[src[..., 0], src[..., 1]]                          # [oh, ow, 3], noise
    dc = len(dy) * 3
    has_coarse = lev + 1 < len(spyr_q)
    v = np.empty(dc + (nc * nc * 3 if has_coarse else 0))
    if has_coarse:
        # The coarser output level is finished: gather every pixel's parent window at once.
        pq = spyr_q[lev + 1][coords[lev + 1][..., 0], coords[lev + 1][..., 1]]
        ph, pw = pq.shape[:2]
        off = np.arange(-rc, rc + 1)
        prow = (np.arange(oh)[:, None] // 2 + off[None, :]) % ph   # [oh, nc]
        pcol = (np.arange(ow)[:, None] // 2 + off[None, :]) % pw   # [ow, nc]
        cfeat = pq[prow[:, None, :, None], pcol[None, :, None, :]].reshape(oh, ow, -1)
    col_table = (np.arange(ow)[:, None] + dx[None, :]) % ow       # [ow, k]
    for y in range(oh):
        rows = (y + dy) % oh
        for x in range(ow):
            v[:dc] = out_q[rows, col_table[x]].ravel()
            if has_coarse:
                v[dc:] = cfeat[y, x]
            i = searcher(v)
            src[y, x, 0] = cy[i]
            src[y, x, 1] = cx[i]
            out_q[y, x] = sq[cy[i], cx[i]]


def synthesize(sample, size=(64, 64), *, levels: int = 3, neighbourhood: int = 5,
               coarse_neighbourhood: int | None = None, seed: int | None = 0,
               search: str = "auto", return_stages: bool = False,
               progress: bool = False) -> SynthesisResult:
    """Synthesise a texture from ``sample`` with Wei & Levoy's multi-resolution algorithm.

    Args:
        sample: float tensor ``[1, 3, h, w]`` (or ``[1, 1, h, w]`` grey) in ``[0, 1]``.
        size: output ``(H, W)`` in pixels, or one int for a square; each side at most
            :data:`MAX_OUTPUT_SIDE`.
        levels: number of pyramid levels ``L`` (1 = single resolution, §3.1; 3-4 is typical, §3.3).
        neighbourhood: odd side ``n`` of the window at the current level; its causal half
            (:func:`neighbourhood_mask`, ``(n*n - 1) // 2`` pixels) is matched.
        coarse_neighbourhood: odd side ``n'`` of the full window at the next coarser level, used
            below the top level; default :func:`coarse_neighbourhood_size` ``(n)``.
        seed: seed of the :func:`numpy.random.default_rng` generator for the initial noise; the
            result is a deterministic function of ``(sample, size, settings, seed)``.
        search: ``"auto"`` (default: per level, :func:`exact_search_for` its candidate count),
            ``"tree"`` (exact k-d tree, standing in for TSVQ, §3.4) or ``"exhaustive"`` (brute
            force); all three give the same output. ``"tsvq"`` is the paper's own approximate
            tree search: faster per query, output close to but not identical with the exact modes.
        return_stages: keep the output of every level in ``result.stages`` (coarse -> fine).
        progress: print one line per level (level, size, candidates, seconds).

    Returns:
        A :class:`SynthesisResult`.

    Raises:
        ValueError: naming the offending value, for an even or too small neighbourhood, an
            output size beyond the limit, an unknown search, a bad level count, or a sample too
            small for the neighbourhood at some pyramid level.
    """
    n, nc, levels, (H, W) = _check_settings(neighbourhood, coarse_neighbourhood, levels, search, size, seed)
    img = _to_array(sample)
    sh, sw = img.shape[:2]
    if sh < n or sw < n:
        raise ValueError(f"sample of {sh}x{sw} pixels is too small for neighbourhood={n}: "
                         f"each side must be at least {n}")

    t0 = time.perf_counter()
    spyr = _gaussian_pyramid(img, levels)
    spyr_q = [_quantise(p) for p in spyr]
    out_sizes = _level_sizes(H, W, levels)
    valid = _valid_per_level(spyr, n, nc)   # every level checked before any work: a bad setting fails fast
    coords = _noise_coords(spyr, out_sizes, np.random.default_rng(seed))
    stages: list[torch.Tensor] = []
    for lev in range(levels - 1, -1, -1):
        tl = time.perf_counter()
        X, cy, cx = _candidate_vectors(spyr_q, lev, valid[lev], n, nc)
        searcher = _Searcher(X, exact_search_for(len(X)) if search == "auto" else search)
        _synthesize_level(spyr_q, coords, lev, searcher, cy, cx, n, nc)
        if return_stages:
            stages.append(_to_tensor(spyr[lev][coords[lev][..., 0], coords[lev][..., 1]]))
        if progress:
            oh, ow = out_sizes[lev]
            print(f"level {lev}: {oh}x{ow} output, {len(cy)} candidates of dimension {X.shape[1]}, "
                  f"{time.perf_counter() - tl:.2f} s", flush=True)

    fine = coords[0]
    image = _to_tensor(img[fine[..., 0], fine[..., 1]])
    return SynthesisResult(image=image, stages=stages, source_coords=fine.astype(np.int64),
                           valid_sources=valid[0].copy(), seconds=time.perf_counter() - t0,
                           levels=levels, neighbourhood=n, coarse_neighbourhood=nc,
                           search=search, seed=seed)
