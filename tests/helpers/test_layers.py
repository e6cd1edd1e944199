"""Layer tables against the real torchvision modules and the papers' feature shapes."""
import pytest
import torchvision.models as tvm
from torch import nn

from helpers.layers import LAYER_TABLES, layer_table, resolve_layers

_KIND_TYPES = {
    "conv": (nn.Conv2d,),
    "relu": (nn.ReLU,),
    "pool": (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d),
    "fc": (nn.Linear,),
}


def _module(net, path):
    for part in path.split("."):
        net = getattr(net, part)
    return net


@pytest.mark.parametrize("arch", ["alexnet", "vgg16", "vgg19", "googlenet", "squeezenet1_1"])
def test_every_table_row_points_at_a_module_of_its_kind(arch):
    kwargs = {"aux_logits": False, "init_weights": False} if arch == "googlenet" else {}
    net = getattr(tvm, arch)(weights=None, **kwargs)
    for name, layer in layer_table(arch).items():
        module = _module(net, layer.node)
        if layer.kind == "block":
            assert len(list(module.children())) > 0, name
        else:
            assert isinstance(module, _KIND_TYPES[layer.kind]), f"{arch}.{name} -> {layer.node} is {module}"


def test_vgg_tables_follow_the_paper_configurations():
    # VGG-16 (config D) has 13 conv layers, VGG-19 (config E) 16, in 5 blocks.
    assert sum(1 for n in LAYER_TABLES["vgg16"] if n.startswith("conv")) == 13
    assert sum(1 for n in LAYER_TABLES["vgg19"] if n.startswith("conv")) == 16
    assert LAYER_TABLES["vgg19"]["conv4_2"].node == "features.21"
    assert LAYER_TABLES["vgg19"]["relu5_4"].node == "features.35"
    assert LAYER_TABLES["vgg16"]["pool5"].node == "features.30"


def test_unknown_layer_lists_valid_names():
    with pytest.raises(ValueError) as err:
        resolve_layers("vgg19", ["relu4_2", "conv6_1"])
    message = str(err.value)
    assert "conv6_1" in message and "relu1_1" in message and "relu5_4" in message


def test_unknown_architecture_and_empty_request():
    with pytest.raises(ValueError, match="known models"):
        layer_table("resnet9000")
    with pytest.raises(ValueError, match="at least one layer"):
        resolve_layers("vgg16", [])


def test_module_paths_are_accepted_and_order_is_input_to_output():
    assert resolve_layers("vgg16", "features.3")[0].name == "relu1_2"
    order = list(layer_table("vgg16"))
    assert order.index("relu1_1") < order.index("conv4_2") < order.index("fc8")
