"""Architecture tables against published numbers."""
import pytest
import torchvision.models as tvm

from helpers.architecture import architecture_table, summarize


@pytest.mark.parametrize("arch, enum", [("alexnet", tvm.AlexNet_Weights.IMAGENET1K_V1),
                                        ("vgg16", tvm.VGG16_Weights.IMAGENET1K_V1),
                                        ("squeezenet1_1", tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1)])
def test_parameter_totals_match_torchvision_metadata(arch, enum):
    assert architecture_table(arch).total_params == enum.meta["num_params"]


def test_receptive_fields_match_published_values():
    # Published theoretical receptive fields at 224 px: AlexNet pool5 195 px,
    # VGG-16 conv5_3 196 px and pool5 212 px, VGG-16 conv1_1 3 px.
    alex = {r.name: r for r in summarize("alexnet")}
    vgg = {r.name: r for r in summarize("vgg16")}
    assert alex["conv1"].receptive_field == 11 and alex["pool5"].receptive_field == 195
    assert vgg["conv1_1"].receptive_field == 3
    assert vgg["conv5_3"].receptive_field == 196 and vgg["pool5"].receptive_field == 212
    assert vgg["fc7"].receptive_field == 224 and vgg["relu7"].receptive_field == 224


def test_conv_rows_obey_the_output_size_formula():
    rows = summarize("vgg16", input_size=100)
    size = 100
    for r in rows:
        if r.kernel is not None:
            size = (size + 2 * r.padding - r.kernel) // r.stride + 1
            assert r.out_shape[-1] == size, r.name


def test_table_renders_as_text_and_html():
    table = architecture_table("alexnet")
    assert "fc7" in str(table) and "61,100,840" in str(table)
    html = table._repr_html_()
    assert html.count("<tr>") == len(table.rows) + 1
    assert summarize("googlenet")[5].receptive_field is None  # multi-branch: not a single path
