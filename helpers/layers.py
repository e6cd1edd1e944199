"""Layer names from the papers, mapped to torchvision modules: one table per architecture.

Each table maps a paper name (``relu4_2``, ``pool3``, ``fc7``, ``inception4c`` …) to a
:class:`Layer`: the module path in the torchvision model (which is also the node name
torchvision's ``feature_extraction`` uses) and the kind of layer it is. Tables are
ordered from input to output, which is how the feature extractor finds the deepest
requested layer.

Naming: VGG follows Simonyan & Zisserman (2015) / Gatys et al. (``convB_L``,
``reluB_L``, ``poolB``); AlexNet follows Krizhevsky et al. (2012) (``conv1…5``,
``fc6…8``); GoogLeNet follows Szegedy et al. (2015) Table 1 (``conv1``, ``pool1``,
``conv2_reduce``, ``conv2``, ``pool2``, ``inception3a`` …); SqueezeNet follows
Iandola et al. (2016) (``conv1``, ``fire2…9``, ``conv10``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """One named layer: ``node`` is the torchvision module path, ``kind`` one of
    ``conv``, ``relu``, ``pool``, ``fc``, ``block`` (a multi-branch module's output)."""

    name: str
    node: str
    kind: str


def _table(rows: list[tuple[str, str, str]]) -> dict[str, Layer]:
    return {name: Layer(name, node, kind) for name, node, kind in rows}


def _vgg_rows(blocks: tuple[int, ...]) -> list[tuple[str, str, str]]:
    rows, index = [], 0
    for b, n_convs in enumerate(blocks, start=1):
        for c in range(1, n_convs + 1):
            rows.append((f"conv{b}_{c}", f"features.{index}", "conv"))
            rows.append((f"relu{b}_{c}", f"features.{index + 1}", "relu"))
            index += 2
        rows.append((f"pool{b}", f"features.{index}", "pool"))
        index += 1
    rows += [
        ("fc6", "classifier.0", "fc"), ("relu6", "classifier.1", "relu"),
        ("fc7", "classifier.3", "fc"), ("relu7", "classifier.4", "relu"),
        ("fc8", "classifier.6", "fc"),
    ]
    return rows


_ALEXNET = [
    ("conv1", "features.0", "conv"), ("relu1", "features.1", "relu"), ("pool1", "features.2", "pool"),
    ("conv2", "features.3", "conv"), ("relu2", "features.4", "relu"), ("pool2", "features.5", "pool"),
    ("conv3", "features.6", "conv"), ("relu3", "features.7", "relu"),
    ("conv4", "features.8", "conv"), ("relu4", "features.9", "relu"),
    ("conv5", "features.10", "conv"), ("relu5", "features.11", "relu"), ("pool5", "features.12", "pool"),
    ("fc6", "classifier.1", "fc"), ("relu6", "classifier.2", "relu"),
    ("fc7", "classifier.4", "fc"), ("relu7", "classifier.5", "relu"),
    ("fc8", "classifier.6", "fc"),
]

# torchvision's BasicConv2d (conv + batch norm + ReLU) is one block here: its output
# is post-ReLU, as the paper's "conv" rows are.
_GOOGLENET = [
    ("conv1", "conv1", "block"), ("pool1", "maxpool1", "pool"),
    ("conv2_reduce", "conv2", "block"), ("conv2", "conv3", "block"), ("pool2", "maxpool2", "pool"),
    ("inception3a", "inception3a", "block"), ("inception3b", "inception3b", "block"),
    ("pool3", "maxpool3", "pool"),
    ("inception4a", "inception4a", "block"), ("inception4b", "inception4b", "block"),
    ("inception4c", "inception4c", "block"), ("inception4d", "inception4d", "block"),
    ("inception4e", "inception4e", "block"), ("pool4", "maxpool4", "pool"),
    ("inception5a", "inception5a", "block"), ("inception5b", "inception5b", "block"),
    ("pool5", "avgpool", "pool"), ("fc", "fc", "fc"),
]

_SQUEEZENET1_1 = [
    ("conv1", "features.0", "conv"), ("relu1", "features.1", "relu"), ("pool1", "features.2", "pool"),
    ("fire2", "features.3", "block"), ("fire3", "features.4", "block"), ("pool3", "features.5", "pool"),
    ("fire4", "features.6", "block"), ("fire5", "features.7", "block"), ("pool5", "features.8", "pool"),
    ("fire6", "features.9", "block"), ("fire7", "features.10", "block"),
    ("fire8", "features.11", "block"), ("fire9", "features.12", "block"),
    ("conv10", "classifier.1", "conv"), ("relu10", "classifier.2", "relu"),
    ("pool10", "classifier.3", "pool"),
]

LAYER_TABLES: dict[str, dict[str, Layer]] = {
    "alexnet": _table(_ALEXNET),
    "vgg16": _table(_vgg_rows((2, 2, 3, 3, 3))),
    "vgg19": _table(_vgg_rows((2, 2, 4, 4, 4))),
    "googlenet": _table(_GOOGLENET),
    "squeezenet1_1": _table(_SQUEEZENET1_1),
}


def register_table(architecture: str, rows: list[tuple[str, str, str]]) -> None:
    """Add a table for another architecture (e.g. the offline toy network)."""
    LAYER_TABLES[architecture] = _table(rows)


def layer_table(architecture: str) -> dict[str, Layer]:
    """The ordered name → :class:`Layer` table of one architecture."""
    try:
        return LAYER_TABLES[architecture]
    except KeyError:
        raise ValueError(
            f"no layer table for model {architecture!r}; known models: {', '.join(sorted(LAYER_TABLES))}"
        ) from None


def resolve_layers(architecture: str, names: list[str] | tuple[str, ...] | str) -> list[Layer]:
    """Look up paper names; an unknown name raises ``ValueError`` listing the valid ones.

    Besides the table's names, ``convB_L`` is accepted as ``conv4_2``-style for VGG and
    a raw module path (``"features.21"``) is accepted as itself.
    """
    table = layer_table(architecture)
    if isinstance(names, str):
        names = [names]
    if len(names) == 0:
        raise ValueError(f"ask for at least one layer of {architecture}; valid names: {', '.join(table)}")
    by_node = {layer.node: layer for layer in table.values()}
    out = []
    for name in names:
        if name in table:
            out.append(table[name])
        elif name in by_node:
            out.append(by_node[name])
        else:
            raise ValueError(
                f"unknown layer {name!r} for {architecture}. Valid names, input to output: "
                f"{', '.join(table)}"
            )
    return out

