"""The pretrained-weight path, exercised with a seeded random state dict in a private cache."""
import hashlib

import pytest
import torch
import torchvision.models as tvm

from helpers import cli, provenance, weights
from helpers.errors import CorruptWeightsError, WeightsUnavailableError
from helpers.models import FeatureExtractor, load_model

ENUM = tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1   # the smallest of the kit's networks (5 MB)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache in a temporary folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _state_dict(seed=7):
    torch.manual_seed(seed)
    return tvm.squeezenet1_1(weights=None).state_dict()


@pytest.fixture
def cached_file(hub, monkeypatch):
    """A seeded random state dict placed where torchvision's cache looks, with the enum's
    URL (and so the expected hash prefix) pointed at that file."""
    hub.mkdir(parents=True)
    tmp = hub / "tmp.pth"
    torch.save(_state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = hub / f"squeezenet1_1-{digest[:8]}.pth"
    tmp.rename(path)
    monkeypatch.setattr(ENUM.value, "url", f"https://download.invalid/models/{path.name}")
    return path


def test_cached_weights_load_through_the_torchvision_enum(cached_file):
    assert weights.cached_path(ENUM) == cached_file
    model = load_model("squeezenet1_1", "imagenet", download=False)
    expected = _state_dict()
    for key, value in model.net.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert not model.random_weights and model.weights_label == str(ENUM)
    assert model.categories[:2] == ["tench", "goldfish"]
    assert not provenance.random_weights_used()


def test_verification_is_remembered_until_the_file_changes(cached_file, monkeypatch):
    load_model("squeezenet1_1", "imagenet", download=False)
    assert weights.is_verified(cached_file)
    monkeypatch.setattr(weights, "sha256_of", lambda p: pytest.fail("hashed again"))
    load_model("squeezenet1_1", "imagenet", download=False)
    cached_file.write_bytes(cached_file.read_bytes()[:-10])  # now changed and truncated
    assert not weights.is_verified(cached_file)


def test_truncated_cached_file_is_detected_with_what_to_delete(cached_file):
    cached_file.write_bytes(cached_file.read_bytes()[: cached_file.stat().st_size // 2])
    with pytest.raises(CorruptWeightsError) as err:
        load_model("squeezenet1_1", "imagenet", download=False)
    assert str(cached_file) in str(err.value) and "Delete it" in str(err.value)
    assert "python -m helpers download weights" in str(err.value)


def test_file_with_the_real_name_but_other_contents_is_corrupt(hub):
    hub.mkdir(parents=True)
    torch.save(_state_dict(), hub / "squeezenet1_1-b8a52dc0.pth")  # torchvision's real file name
    with pytest.raises(CorruptWeightsError, match="its name says b8a52dc0"):
        load_model("squeezenet1_1", "imagenet", download=False)


def test_offline_and_not_cached_names_the_command_and_the_exact_path(hub, monkeypatch):
    monkeypatch.setattr(ENUM.value, "url", "http://127.0.0.1:9/models/squeezenet1_1-b8a52dc0.pth")
    with pytest.raises(WeightsUnavailableError) as err:
        load_model("squeezenet1_1", "imagenet")
    message = str(err.value)
    assert "python -m helpers download weights squeezenet1_1" in message
    assert str(hub / "squeezenet1_1-b8a52dc0.pth") in message
    assert "download failed" in message


def test_fallback_to_random_only_when_allowed_and_not_required(hub, monkeypatch):
    monkeypatch.setenv("KIT_ALLOW_RANDOM_WEIGHTS", "1")
    with pytest.warns(UserWarning, match="using random weights instead"):
        model = load_model("squeezenet1_1", "imagenet", download=False)
    assert model.random_weights and provenance.random_weights_used()
    monkeypatch.setenv("KIT_REQUIRE_WEIGHTS", "1")
    with pytest.raises(WeightsUnavailableError):
        load_model("squeezenet1_1", "imagenet", download=False)


def test_loading_from_a_path_checks_architecture(tmp_path):
    good = tmp_path / "mine.pth"
    torch.save(_state_dict(), good)
    assert torch.equal(load_model("squeezenet1_1", good).net.features[0].weight, _state_dict()["features.0.weight"])
    wrong = tmp_path / "alex.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(CorruptWeightsError, match="does not fit SqueezeNet"):
        load_model("squeezenet1_1", wrong)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(CorruptWeightsError, match="could not read weight file"):
        load_model("squeezenet1_1", text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("squeezenet1_1", tmp_path / "missing.pth")


def test_caffe_weights_use_their_own_means_and_the_0_255_scale(monkeypatch):
    state = tvm.vgg16(weights=None).state_dict()
    caffe = tvm.VGG16_Weights.IMAGENET1K_FEATURES
    monkeypatch.setattr(weights, "ensure_cached", lambda w, **k: "virtual.pth")
    monkeypatch.setattr(weights, "load_state_dict", lambda p: state)
    model = load_model("vgg16", "caffe")
    assert model.weights_label == str(caffe)
    x = torch.full((1, 3, 4, 4), 0.5)
    mean = torch.tensor([0.48235, 0.45882, 0.40784]).view(1, 3, 1, 1)
    assert torch.allclose(model.normalize(x), (x - mean) * 255, atol=1e-4)
    with pytest.raises(ValueError, match="no trained classifier"):
        FeatureExtractor(model, ["fc7"])
    assert FeatureExtractor(model, ["relu1_1"])(torch.rand(1, 3, 16, 16))["relu1_1"].shape[1] == 64


def test_prefetch_and_list_commands(hub, monkeypatch, capsys, cached_file):
    assert cli.main(["weights", "list"]) == 0
    assert "SqueezeNet1_1_Weights.IMAGENET1K_V1" in capsys.readouterr().out
    assert cli.main(["weights", "prefetch", "squeezenet1_1"]) == 0
    assert "ok" in capsys.readouterr().out
    assert cli.main(["weights", "prefetch", "resnet9000"]) == 2
    monkeypatch.setattr(tvm.AlexNet_Weights.IMAGENET1K_V1.value, "url", "http://127.0.0.1:9/alexnet-owt-7be5be79.pth")
    assert cli.main(["weights", "prefetch", "alexnet"]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_doctor_reports_device_and_cache(hub, capsys):
    from helpers.cli import main
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "device" in out and "weights dir" in out and str(hub) in out
