"""The demo gallery: key figures pulled out of executed notebooks, and the HTML around them.

``instructor.demo`` runs the notebooks; this module only reads executed notebooks and
writes files: ``figures/*.png``, each notebook's page (nbconvert's HTML with a bar
and banners added on top) and ``index.html``. Every page is self-contained: CSS
inline, images embedded or linked relatively.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from helpers.weights import PREFETCH_COMMAND

MAX_FIGURES = 6
FIGURE_TAG = "figure"

RANDOM_WEIGHTS_BANNER = (
    "RANDOM WEIGHTS: pretrained ImageNet weights were not available; pictures show the "
    "algorithms' behaviour with a random network, not what a trained CNN sees. Run "
    f"`{PREFETCH_COMMAND}` with network, then `make demo` again."
)


@dataclass
class Figure:
    """One key figure: its file (relative to the gallery folder), caption and size in pixels (0: unknown)."""

    path: str
    caption: str
    width: int = 0
    height: int = 0

    @property
    def span(self) -> int:
        """Gallery columns the figure spans: wide strips get more room (1 to 3)."""
        if not (self.width and self.height):
            return 1
        aspect = self.width / self.height
        return 3 if aspect >= 3.2 else 2 if aspect >= 1.9 else 1


@dataclass
class NotebookResult:
    """What one notebook run produced, as the gallery and ``summary.json`` report it.

    ``weights`` holds the provenance records the notebook wrote (``model``,
    ``weights``, ``random``, ``note``); ``error`` is ``None`` when it ran through.
    """

    name: str
    source: str
    title: str
    page: str
    seconds: float
    error: str | None = None
    weights: list[dict] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def random_weights(self) -> bool:
        return any(w.get("random") for w in self.weights)


# ----------------------------------------------------------------------------- notebooks

def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _headings(markdown: str) -> list[str]:
    """The text of every ``#`` heading in a markdown string, in order."""
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, re.M)]


def notebook_title(nb, default: str) -> str:
    """The notebook's first markdown heading, or ``default``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found = _headings(cell.source)
            if found:
                return found[0]
    return default


def _png_outputs(cell) -> list[str]:
    return [out["data"]["image/png"] for out in cell.get("outputs", [])
            if "image/png" in out.get("data", {})]


def key_figures(nb, limit: int = MAX_FIGURES) -> list[tuple[bytes, str]]:
    """``(png_bytes, caption)`` of the notebook's key figures, at most ``limit``.

    Key figures are the PNG outputs of cells tagged ``figure``; when no cell carries
    the tag, every PNG output counts. A caption is the cell's ``caption`` metadata, else
    the nearest markdown heading above the cell, else empty.
    """
    tagged = any(FIGURE_TAG in _tags(c) for c in nb.cells if c.cell_type == "code")
    heading = ""
    figures: list[tuple[bytes, str]] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heading = (_headings(cell.source) or [heading])[-1]
            continue
        if cell.cell_type != "code" or (tagged and FIGURE_TAG not in _tags(cell)):
            continue
        caption = str(cell.metadata.get("caption") or heading)
        figures.extend((base64.b64decode(png), caption) for png in _png_outputs(cell))
    return figures[:limit]


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (0, 0 when it is not a PNG)."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def save_figures(nb, folder: Path, stem: str) -> list[Figure]:
    """Write the key figures to ``folder/<stem>-NN.png``; paths are relative to the gallery."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for number, (png, caption) in enumerate(key_figures(nb), start=1):
        target = folder / f"{stem}-{number:02d}.png"
        target.write_bytes(png)
        width, height = _png_size(png)
        saved.append(Figure(path=f"{folder.name}/{target.name}", caption=caption, width=width, height=height))
    return saved


# ----------------------------------------------------------------------------- HTML

_CSS = """
body.kit { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
  max-width: 1100px; margin: 0 auto; padding: 24px; background: #fafafa; }
.kit h1 { font-size: 28px; margin: 0 0 4px; }
.kit h2 { font-size: 20px; margin: 0; }
.kit a { color: #0b5cad; }
.kit-meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0 20px;
  font-size: 14px; color: #444; }
.kit-meta dt { font-weight: 600; }
.kit-meta dd { margin: 0; }
.kit-banner { background: #b00020; color: #fff; padding: 14px 18px; border-radius: 6px; margin: 12px 0;
  font-weight: 600; font-size: 15px; line-height: 1.45; }
.kit-banner code, .kit-error code { background: rgba(255,255,255,.2); padding: 0 4px; border-radius: 3px; }
.kit-error { background: #fdecea; border-left: 5px solid #b00020; padding: 10px 14px; margin: 10px 0;
  white-space: pre-wrap; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; overflow-x: auto; }
.kit-card { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 16px 20px; margin: 18px 0; }
.kit-card header { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; flex-wrap: wrap; }
.kit-facts { font-size: 14px; color: #555; margin: 6px 0 10px; }
.kit-badge { font-size: 12px; font-weight: 700; padding: 2px 8px; border-radius: 10px; color: #fff; }
.kit-ok { background: #1b7f3b; } .kit-failed { background: #b00020; } .kit-random { background: #c25e00; }
.kit-figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 14px; }
.kit-figs figure { margin: 0; }
.kit-figs img { width: 100%; height: 250px; object-fit: contain; background: #f0f0f0; border-radius: 4px; }
.kit-figs figure.kit-span2 { grid-column: span 2; } .kit-figs figure.kit-span3 { grid-column: 1 / -1; }
.kit-figs figure.kit-span2 img, .kit-figs figure.kit-span3 img { height: auto; max-height: 420px; }
.kit-intro { color: #444; margin: 4px 0 12px; }
.kit-toc { border-collapse: collapse; font-size: 14px; margin: 0 0 18px; }
.kit-toc th, .kit-toc td { text-align: left; padding: 3px 14px 3px 0; border-bottom: 1px solid #e3e3e3; }
.kit-toc td.kit-num { text-align: right; font-variant-numeric: tabular-nums; }
.kit-figs figcaption { font-size: 13px; color: #444; margin-top: 4px; }
.kit-bar { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f3f3f3;
  border-bottom: 1px solid #ddd; padding: 10px 24px; }
.kit-bar .kit-banner, .kit-bar .kit-error { margin: 8px 0 0; }
"""


def _e(text) -> str:
    return html.escape(str(text))


def _with_code(text: str) -> str:
    """Escape ``text`` and show its `backticked` parts as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def banner_html() -> str:
    """The random-weights banner as an HTML block."""
    return f'<div class="kit-banner" role="alert">{_with_code(RANDOM_WEIGHTS_BANNER)}</div>'


def format_seconds(seconds: float) -> str:
    """``"8.2 s"`` or ``"3 min 05 s"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def weights_text(records: list[dict]) -> str:
    """``"vgg19: VGG19_Weights.IMAGENET1K_V1"``-style list of the weights a notebook loaded."""
    if not records:
        return "no pretrained model loaded"
    def one(r: dict) -> str:
        model, weights = str(r["model"]), str(r["weights"])
        if weights.startswith(model + " "):  # "toynet: toynet trained" reads as "toynet: trained"
            weights = weights[len(model) + 1:]
        label = f"{model}: {weights}"
        return label + " (random)" if r.get("random") and "random" not in weights else label

    return "; ".join(dict.fromkeys(one(r) for r in records))


def _facts(result: NotebookResult) -> str:
    badge = ('<span class="kit-badge kit-ok">ok</span>' if result.ok
             else '<span class="kit-badge kit-failed">failed</span>')
    random = ' <span class="kit-badge kit-random">random weights</span>' if result.random_weights else ""
    return (f"{badge}{random} &nbsp; wall time {format_seconds(result.seconds)} &nbsp;·&nbsp; "
            f"weights: {_e(weights_text(result.weights))}")


def decorate_page(page: str, result: NotebookResult, run: dict) -> str:
    """Put a bar on top of a notebook's nbconvert HTML: back link, facts, banners, error."""
    bar = [f'<div class="kit-bar"><a href="index.html">&larr; gallery</a> &nbsp; '
           f'<strong>{_e(result.title)}</strong> &nbsp; {_facts(result)} &nbsp;·&nbsp; '
           f'{_e(run["device"])}, profile {_e(run["profile"]["name"])}']
    if result.random_weights:
        bar.append(banner_html())
    if not result.ok:
        bar.append(f'<div class="kit-error">This notebook failed; the failing cell shows the '
                   f'traceback below.\n{_e(result.error)}</div>')
    bar.append("</div>")
    page = page.replace("</head>", f"<style>{_CSS}</style>\n</head>", 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + "\n".join(bar), page, count=1)


def _card(result: NotebookResult) -> str:
    figures = "".join(
        f'<figure class="kit-span{f.span}"><a href="{_e(f.path)}">'
        f'<img src="{_e(f.path)}" alt="{_e(f.caption)}" loading="lazy"></a>'
        f"<figcaption>{_e(f.caption)}</figcaption></figure>"
        for f in result.figures)
    error = f'<div class="kit-error">{_e(result.error)}</div>' if result.error else ""
    empty = "" if result.figures else "<p>No figures.</p>"
    return (f'<section class="kit-card" id="{_e(result.name)}"><header>'
            f'<h2><a href="{_e(result.page)}">{_e(result.title)}</a></h2>'
            f'<span>{_e(result.source)}</span></header>'
            f'<div class="kit-facts">{_facts(result)}</div>{error}'
            f'<div class="kit-figs">{figures}</div>{empty}</section>')


def index_html(results: list[NotebookResult], run: dict) -> str:
    """The gallery's ``index.html``: header, random-weights banner if any, one card per notebook."""
    failed = sum(not r.ok for r in results)
    profile = run["profile"]
    meta = {
        "Device": run["device_name"],
        "Profile": f'{profile["name"]}: {profile["description"]} ({profile["image_size"]} px, '
                   f'{profile["iterations"]} iterations, {profile["precision"]})',
        "Generated": run["generated"],
        "Versions": ", ".join(f"{k} {v}" for k, v in run["versions"].items()),
        "Notebooks": f"{len(results)} run, {failed} failed, total wall time {format_seconds(run['seconds'])}",
    }
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta.items())
    intro = ('<p class="kit-intro">The key figures of every solution notebook, run headless by '
             '<code>make demo</code> on the device and profile below. A notebook\'s title opens the whole '
             'executed notebook; a figure opens at full size.</p>')
    banner = banner_html() if any(r.random_weights for r in results) else ""
    if results:
        body = contents_html(results) + "".join(_card(r) for r in results)
    else:
        body = (f"<p>No solution notebooks found under <code>{_e(run['solutions'])}/NN_topic/*.ipynb</code>"
                f"{' for the selected topics' if run.get('topics') else ''}: nothing was run.</p>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Style vs Content: demo gallery</title><style>{_CSS}</style></head>"
            f'<body class="kit"><h1>Style vs Content: demo gallery</h1>{intro}{banner}'
            f'<dl class="kit-meta">{rows}</dl>{body}</body></html>\n')


def contents_html(results: list[NotebookResult]) -> str:
    """A table of contents: per notebook its status, wall time, figure count and weights."""
    def row(r: NotebookResult) -> str:
        status = "ok" if r.ok else "failed"
        weights = "random" if r.random_weights else ("pretrained" if r.weights else "none loaded")
        return (f'<tr><td><a href="#{_e(r.name)}">{_e(r.title)}</a></td><td>{status}</td>'
                f'<td class="kit-num">{format_seconds(r.seconds)}</td><td class="kit-num">{len(r.figures)}</td>'
                f"<td>{weights}</td></tr>")
    head = "<tr><th>notebook</th><th>status</th><th>wall time</th><th>figures</th><th>weights</th></tr>"
    return f'<table class="kit-toc">{head}{"".join(row(r) for r in results)}</table>'

