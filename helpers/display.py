"""Figures and live previews for image tensors.

Images are float tensors ``[3, H, W]`` or ``[1, 3, H, W]`` in [0, 1] (a batch
``[B, 3, H, W]`` where a function says so), or ``H×W×3`` arrays. Figures are created
through ``matplotlib.pyplot`` so notebooks show them inline, then drawn on with the
object API (no current-axes state is used). In a notebook, end a call with ``;`` or
assign its figure to keep Jupyter from showing the returned figure a second time.

Every figure made while :func:`helpers.provenance.random_weights_used` is True carries
a red :data:`~helpers.provenance.RANDOM_WEIGHTS_MARK`, so no picture from an untrained
network passes for a real one.
"""
from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from helpers import provenance
from helpers.images import to_numpy

#: ``gid`` of the text artist carrying the random-weights mark on a figure.
MARK_GID = "random-weights-mark"
_MARK_STRIP = 0.06  # fraction of the figure height kept free at the bottom for the mark


def _plt():
    import matplotlib.pyplot as plt
    return plt


def _root_figure(ax):
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10
        return ax.figure


def _as_array(image) -> np.ndarray:
    """Tensor ``[3,H,W]``/``[1,3,H,W]``/``[H,W]`` or array → array for ``imshow``, values in [0, 1]."""
    if isinstance(image, torch.Tensor):
        return to_numpy(image)
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _as_list(images) -> list:
    if isinstance(images, torch.Tensor):
        if images.dim() == 4:
            return list(images)
        if images.dim() in (2, 3):
            return [images]
        raise ValueError(f"expected images [B,3,H,W] or [3,H,W], got shape {tuple(images.shape)}")
    return list(images)


def has_random_weights_mark(fig) -> bool:
    """True when ``fig`` carries the random-weights mark."""
    return any(t.get_gid() == MARK_GID for t in fig.texts)


def mark_if_random(fig, random_weights: bool | None = None) -> bool:
    """Add the red random-weights mark to ``fig`` (once per figure) when it shows random-weight
    results. ``random_weights=None`` decides by this process's provenance (any random-weight
    model loaded so far); pass ``False`` for a figure that only shows trained networks (e.g.
    the offline toy classifier) or ``True`` to force the mark. Returns whether the figure
    carries the mark."""
    due = provenance.random_weights_used() if random_weights is None else random_weights
    if not due:
        return has_random_weights_mark(fig)
    if not has_random_weights_mark(fig):
        fig.text(0.5, 0.008, provenance.RANDOM_WEIGHTS_MARK, gid=MARK_GID, color="red",
                 ha="center", va="bottom", fontsize=10, fontweight="bold", zorder=10,
                 bbox=dict(facecolor="white", edgecolor="red", boxstyle="round,pad=0.2", alpha=0.9))
    return True


def finish_figure(fig, *, has_suptitle: bool = False, random_weights: bool | None = None):
    """Lay out a figure (tight layout), leaving room for the random-weights mark, then mark it if due
    (``random_weights`` as in :func:`mark_if_random`).

    Call it on figures made directly with matplotlib; the functions here call it themselves.
    """
    due = provenance.random_weights_used() if random_weights is None else random_weights
    bottom = _MARK_STRIP if due else 0.0
    top = 0.93 if has_suptitle else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.tight_layout(rect=(0.0, bottom, 1.0, top))
    mark_if_random(fig, random_weights)
    return fig


def show_rows(rows, row_titles=None, *, col_titles=None, titles=None, suptitle=None, cmap="hot",
              size: float = 2.2, random_weights: bool | None = None):
    """A grid with one row per list in ``rows``; returns the figure.

    Each item is an image (tensor ``[3,H,W]``/``[1,3,H,W]``) or a map ``[H,W]`` in [0,1]
    (drawn with ``cmap``). ``row_titles`` label the rows, ``col_titles`` the columns of the
    first row, ``titles[r][c]`` every cell (room is left for two-line titles).
    ``random_weights`` as in :func:`mark_if_random`.
    """
    nrows, ncols = len(rows), max(len(r) for r in rows)
    title_room = 0.45 if titles else 0.0
    fig, axes = _plt().subplots(nrows, ncols, figsize=(size * ncols, (size + title_room) * nrows + 0.6),
                                squeeze=False)
    for r, row in enumerate(rows):
        for c, item in enumerate(row):
            ax = axes[r, c]
            t = item.detach().float().cpu() if hasattr(item, "detach") else item
            if getattr(t, "dim", lambda: 3)() == 2:
                ax.imshow(np.asarray(t), cmap=cmap, vmin=0, vmax=1)
            else:
                ax.imshow(_as_array(t))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0 and row_titles:
                ax.set_ylabel(row_titles[r])
            if r == 0 and col_titles:
                ax.set_title(col_titles[c], fontsize=9)
            if titles:
                ax.set_title(titles[r][c], fontsize=9)
        for ax in axes[r, len(row):]:
            ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle)
    finish_figure(fig, has_suptitle=bool(suptitle), random_weights=random_weights)
    if titles:
        fig.subplots_adjust(hspace=0.4)  # tight_layout leaves no room for titles above a lower row
    return fig


def _done(fig, created: bool, random_weights: bool | None = None):
    """Finish a figure this module created; on a caller's axes only add the mark if due."""
    if created:
        return finish_figure(fig, random_weights=random_weights)
    mark_if_random(fig, random_weights)
    return fig


def show_image(image, title: str | None = None, ax=None, *, figsize=(4, 4), random_weights: bool | None = None):
    """Show one image (tensor ``[3,H,W]``/``[1,3,H,W]`` or ``H×W×3`` array) without axes.

    Draws on ``ax`` when given (its figure gets the mark if due, its layout is left
    alone), otherwise on a new figure. Returns the figure.
    """
    if ax is None:
        fig, ax = _plt().subplots(figsize=figsize)
        created = True
    else:
        fig, created = _root_figure(ax), False
    arr = _as_array(image)
    if arr.ndim == 2:
        ax.imshow(arr, cmap="gray", vmin=0, vmax=255 if arr.dtype == np.uint8 else 1)
    else:
        ax.imshow(arr)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return _done(fig, created, random_weights)


def show_grid(images, titles: Sequence[str] | None = None, ncols: int | None = None,
              figsize: tuple[float, float] | None = None, suptitle: str | None = None,
              random_weights: bool | None = None):
    """Show images in a grid, one axes per image, and return the figure.

    ``random_weights`` decides the random-weights mark as in :func:`mark_if_random`.

    ``images`` is a batch tensor ``[B, 3, H, W]`` or a list of images (tensors
    ``[3,H,W]``/``[1,3,H,W]`` or arrays). ``ncols`` defaults to ``min(len(images), 4)``;
    ``figsize`` to 3 inches per cell. Unused cells of the last row are removed, so the
    figure has exactly ``len(images)`` axes.
    """
    items = _as_list(images)
    n = len(items)
    if n == 0:
        raise ValueError("show_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncols = max(1, min(int(ncols or min(n, 4)), n))
    nrows = math.ceil(n / ncols)
    if figsize is None:
        figsize = (3.0 * ncols, 3.0 * nrows + (0.4 if suptitle else 0.0))
    fig, axes = _plt().subplots(nrows, ncols, figsize=figsize, squeeze=False)
    flat = axes.ravel()
    for i, item in enumerate(items):
        show_image(item, titles[i] if titles is not None else None, ax=flat[i], random_weights=random_weights)
    for ax in flat[n:]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    return finish_figure(fig, has_suptitle=bool(suptitle), random_weights=random_weights)


def plot_losses(history, log: bool = True, ax=None, title: str | None = None):
    """Plot per-step values: one line per term, the total (or score) thicker.

    ``history`` is an :class:`~helpers.optim.OptimizationResult` or its ``history``
    dict ``{name: [value per step]}``. ``log=True`` uses a log y-axis when every value
    is positive, a symmetric-log one otherwise. With a coarse-to-fine result, dotted
    lines mark where each new size starts. Returns the figure.
    """
    stages = getattr(history, "stages", None) or []
    maximize = bool(getattr(history, "maximize", False))
    series: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if ax is None:
        fig, ax = _plt().subplots(figsize=(6, 3.5))
        created = True
    else:
        fig, created = _root_figure(ax), False
    main = "score" if "score" in series else "total"
    finite = []
    for name, values in series.items():
        y = np.asarray(values, dtype=float)
        if y.size == 0:
            continue
        steps = np.arange(1, y.size + 1)
        if name == main:
            ax.plot(steps, y, label=name, color="black", linewidth=2.0, zorder=3)
        else:
            ax.plot(steps, y, label=name, linewidth=1.2)
        finite.append(y[np.isfinite(y)])
    values_all = np.concatenate(finite) if finite else np.array([])
    if log and values_all.size:
        ax.set_yscale("log" if (values_all > 0).all() else "symlog")
    for stage in stages[1:]:
        ax.axvline(stage.first_step + 0.5, color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"{stage.size[0]}×{stage.size[1]}", (stage.first_step + 0.5, 1.0),
                    xycoords=("data", "axes fraction"), va="top", fontsize=8, color="grey")
    ax.set_xlabel("step")
    ax.set_ylabel("score" if maximize or main == "score" else "loss")
    if len(series) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return _done(fig, created)


def save_figure(fig, path, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix), creating folders; marks it first if due."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mark_if_random(fig)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


# --------------------------------------------------------------------------- live preview

def png_bytes(image) -> bytes:
    """Encode an image as PNG. A batch ``[B, 3, H, W]`` is laid out side by side."""
    if isinstance(image, torch.Tensor):
        t = image.detach()
        if t.dim() == 4:
            t = torch.cat(list(t), dim=-1)
        arr = to_numpy(t)
    else:
        arr = _as_array(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
    from matplotlib.image import imsave
    buf = io.BytesIO()
    imsave(buf, arr, format="png", cmap="gray" if arr.ndim == 2 else None)
    return buf.getvalue()


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePreview:
    """An image that updates in place while a loop runs.

    In a Jupyter kernel with ipywidgets it shows an ``ipywidgets.Image`` (PNG bytes)
    with a caption (step, losses, and the random-weights mark when due), created on the
    first :meth:`update`. Anywhere else it does nothing, or prints a one-line summary
    per update with ``fallback="print"``; it never raises because no display exists.

    Args:
        title: caption prefix.
        width: displayed width in screen pixels (default: the image's own).
        fallback: ``"none"`` or ``"print"`` when no widget can be shown.
    """

    def __init__(self, title: str | None = None, width: int | None = None, fallback: str = "none"):
        if fallback not in ("none", "print"):
            raise ValueError(f"fallback must be 'none' or 'print', got {fallback!r}")
        self.title = title
        self.width = width
        self.fallback = fallback
        self.updates = 0
        self._widget = None
        self._caption = None
        self._box = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        """True when updates reach a widget (a kernel with ipywidgets)."""
        return self._widget is not None or (not self._failed and _in_kernel() and _has_ipywidgets())

    def _caption_html(self, step, losses) -> str:
        parts = [self.title] if self.title else []
        if step is not None:
            parts.append(f"step {step}")
        if losses:
            parts.append(", ".join(f"{k} {v:.4g}" for k, v in losses.items()))
        html = " · ".join(parts)
        if provenance.random_weights_used():
            html += f' <b style="color:red">{provenance.RANDOM_WEIGHTS_MARK}</b>'
        return html

    def _ensure_widget(self) -> bool:
        if self._widget is not None:
            return True
        if self._failed or not (_in_kernel() and _has_ipywidgets()):
            return False
        try:
            import ipywidgets as widgets
            from IPython.display import display
            kwargs = {"width": self.width} if self.width else {}
            self._widget = widgets.Image(format="png", **kwargs)
            self._caption = widgets.HTML()
            self._box = widgets.VBox([self._caption, self._widget])
            display(self._box)
            return True
        except Exception:
            self._failed = True
            self._widget = None
            return False

    def update(self, image, step: int | None = None, losses: Mapping[str, float] | None = None) -> None:
        """Show ``image`` (tensor ``[B,3,H,W]``/``[3,H,W]``) with its step and losses."""
        self.updates += 1
        if self._ensure_widget():
            try:
                self._widget.value = png_bytes(image)
                self._caption.value = self._caption_html(step, losses)
            except Exception:
                self._failed = True
                self._widget = None
            return
        if self.fallback == "print":
            print(self._caption_html(step, losses).replace('<b style="color:red">', "").replace("</b>", ""))

    def close(self) -> None:
        """Remove the widget (if any)."""
        if self._box is not None:
            try:
                self._box.close()
            except Exception:
                pass
        self._widget = self._caption = self._box = None


def resolve_preview(preview) -> "LivePreview | None":
    """Turn a loop's ``preview=`` argument into the object it updates, or ``None``.

    Args:
        preview: ``None`` or ``False`` for no preview; ``True`` for a new
            :class:`LivePreview`; or any object with an ``update(image, step=..., losses=...)``
            method (a :class:`LivePreview` or a stand-in), returned as is. The loops pass it
            image batches ``[B, 3, H, W]`` in [0, 1], the step count and the losses as floats.

    Returns:
        The preview to update, or ``None`` when there is none.

    Raises:
        TypeError: ``preview`` is something else (it has no ``update`` method).
    """
    if preview is None or preview is False:
        return None
    if preview is True:
        return LivePreview()
    if not hasattr(preview, "update"):
        raise TypeError(f"preview must be a LivePreview (or have .update(image, ...)), got {preview!r}")
    return preview


def _has_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True
