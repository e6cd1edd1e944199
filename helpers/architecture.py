"""An architecture as a table: layer, kind, kernel/stride/padding, output shape, parameters, receptive field.

The receptive field of a unit is *measured*, not derived: the convolutions and poolings of
the network's ``features`` are copied into a one-channel network with positive averaging
kernels of the same size, stride, padding and dilation, and the gradient of the centre
unit of each layer with respect to a large input is non-zero exactly on the input window
that unit sees. Its width is the column (cut at the image size). It exists for plain
chains of convolutions and poolings (AlexNet, VGG, the toy network); for networks with
parallel branches (GoogLeNet, SqueezeNet) it is left empty. Fully connected layers see the
whole image. Notebook 01's exercise derives the same numbers with a recurrence.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import torch
from torch import nn

from helpers.layers import layer_table
from helpers.normalize import ImageModel


@dataclass(frozen=True)
class LayerInfo:
    """One row of an architecture table.

    ``out_shape`` excludes the batch dimension, e.g. ``(64, 55, 55)``; ``params`` counts
    the weights and biases of this layer alone; ``receptive_field`` is in input pixels
    (``None`` where it is not defined by a single path).
    """

    name: str
    kind: str
    kernel: int | None
    stride: int | None
    padding: int | None
    out_shape: tuple[int, ...]
    params: int
    receptive_field: int | None


def _pair0(value) -> int:
    return int(value[0] if isinstance(value, tuple) else value)


def _module(net: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        net = getattr(net, part)
    return net


def summarize(model: ImageModel | str, input_size: int = 224) -> list[LayerInfo]:
    """Rows for every paper-named layer of ``model`` at ``input_size``×``input_size`` input.

    ``model`` may be a loaded :class:`ImageModel` or an architecture name (then random
    weights are used: shapes, parameters and receptive fields do not depend on weights).
    """
    if isinstance(model, str):
        from helpers.models import load_model
        model = load_model(model, "random")
    table = layer_table(model.name)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        _module(model.net, layer.node).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
        for name, layer in table.items()
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in hooks:
            h.remove()

    rf_by_leaf = _receptive_fields(model.net, input_size)
    rows = []
    for name, layer in table.items():
        module = _module(model.net, layer.node)
        conv_like = isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))
        after_features = rf_by_leaf and not layer.node.startswith("features.")   # the classifier sees it all
        rf = input_size if after_features else rf_by_leaf.get(layer.node)
        if rf is None and layer.kind == "block":
            rf = max((v for k, v in rf_by_leaf.items() if k.startswith(layer.node + ".")), default=None)
        rows.append(LayerInfo(
            name=name, kind=layer.kind,
            kernel=_pair0(module.kernel_size) if conv_like else None,
            stride=_pair0(module.stride) if conv_like else None,
            padding=_pair0(module.padding) if conv_like else None,
            out_shape=shapes.get(name, ()),
            params=sum(p.numel() for p in module.parameters()),
            receptive_field=rf,
        ))
    return rows


def _receptive_fields(net: nn.Module, input_size: int) -> dict[str, int | None]:
    """Measured receptive field (pixels, at most ``input_size``) after each module of ``net.features``."""
    from helpers.patches import layer_geometry

    features = getattr(net, "features", None)
    if not isinstance(features, nn.Sequential):
        return {}
    try:
        geometry = [layer_geometry(m) for m in features]
    except ValueError:          # a block of branches: no single window
        return {}
    side = max(2 * input_size, 512)      # large enough that the centre unit's window is not cut
    probe = torch.zeros(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    x, outputs = probe, []
    for g in geometry:
        if g is not None:
            k, s, p, d = g
            kernel = torch.full((1, 1, k, k), 1.0 / (k * k), dtype=torch.float64)
            x = torch.nn.functional.conv2d(x, kernel, stride=s, padding=p, dilation=d)
        outputs.append(x)
    sizes = {}
    for i, out in enumerate(outputs):
        centre = out[0, 0, out.shape[2] // 2, out.shape[3] // 2]
        grad, = torch.autograd.grad(centre, probe, retain_graph=True)
        rows = grad[0, 0].abs().sum(dim=1).nonzero()
        sizes[f"features.{i}"] = min(int(rows.max() - rows.min()) + 1, input_size)
    return sizes


class SummaryTable:
    """Rows of :func:`summarize`, shown as an HTML table in Jupyter and as text elsewhere."""

    columns = ("layer", "kind", "k", "s", "p", "output shape", "parameters", "receptive field")

    def __init__(self, rows: list[LayerInfo], title: str = ""):
        self.rows, self.title = rows, title

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    def _cells(self, r: LayerInfo) -> list[str]:
        dash = "—"
        return [r.name, r.kind, *(dash if v is None else str(v) for v in (r.kernel, r.stride, r.padding)),
                "×".join(map(str, r.out_shape)), f"{r.params:,}" if r.params else dash,
                dash if r.receptive_field is None else f"{r.receptive_field} px"]

    def __str__(self) -> str:
        cells = [list(self.columns)] + [self._cells(r) for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
        head = [self.title] if self.title else []
        return "\n".join(head + lines + [f"total parameters: {self.total_params:,}"])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self._cells(r)) + "</tr>"
                       for r in self.rows)
        caption = f"<caption>{html.escape(self.title)} — {self.total_params:,} parameters</caption>"
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def architecture_table(model: ImageModel | str, input_size: int = 224) -> SummaryTable:
    """:func:`summarize` wrapped for display."""
    name = model if isinstance(model, str) else model.name
    return SummaryTable(summarize(model, input_size), title=f"{name} at {input_size}×{input_size}×3")
