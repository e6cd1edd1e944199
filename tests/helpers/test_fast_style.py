"""The transformation network, the training loop (checkpoints, resume, Ctrl-C), the photo stream,
the official checkpoints and the instructor's distributed trainer."""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import checkpoints, fast_style, pretrained_styles
from helpers.errors import DownloadError, ImageLoadError, KitError
from helpers.optim import OptimizationResult
from helpers.transformer_net import CheckpointError, TransformerNet, convert_official_state_dict, load_transformer
from instructor.course import repo_root

REPO = repo_root()


# --------------------------------------------------------------------------- network

@pytest.mark.parametrize("size", [(5, 5), (33, 47), (64, 64), (97, 131), (130, 31)])
def test_output_keeps_the_input_size_including_odd_sizes(size):
    net = TransformerNet()
    out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)


def test_too_small_or_wrongly_shaped_input_is_a_clear_error():
    net = TransformerNet()
    with pytest.raises(ValueError, match="at least 5×5"):
        net(torch.rand(1, 3, 4, 20))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        net(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="value_range"):
        TransformerNet(value_range=100)


def test_architecture_follows_johnson_et_al():
    net = TransformerNet()
    convs = {name: m for name, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert convs["conv1.conv2d"].kernel_size == (9, 9) and convs["deconv3.conv2d"].kernel_size == (9, 9)
    assert convs["conv2.conv2d"].stride == (2, 2) and convs["conv3.conv2d"].stride == (2, 2)
    assert sum(name.startswith("res") and name.endswith("conv1.conv2d") for name in convs) == 5
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert len(norms) == 5 + 2 * 5 and all(m.affine for m in norms)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    # Official example's count (1,679,235 parameters) follows from the layer list.
    assert sum(p.numel() for p in net.parameters()) == 1_679_235


def test_stylize_clamps_restores_mode_and_batches():
    torch.manual_seed(0)
    net = TransformerNet().train()
    with torch.no_grad():
        net.deconv3.conv2d.bias.fill_(5.0)        # push the output far out of range
    x = torch.rand(5, 3, 16, 20)
    out = net.stylize(x, batch_size=2)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert net.training, "stylize must restore train mode"
    single = net.stylize(x[0])
    assert single.shape == (3, 16, 20)
    torch.testing.assert_close(single, out[0], rtol=1e-5, atol=1e-6)



def test_stylize_keeps_no_graph_and_runs_in_the_profile_precision():
    from helpers.devices import get_profile

    torch.manual_seed(0)
    net = TransformerNet()
    x = torch.rand(1, 3, 32, 32)
    exact = net.stylize(x)
    assert not exact.requires_grad and exact.grad_fn is None  # inference: no graph kept
    low = net.stylize(x, autocast=get_profile("cpu", device="cpu").with_(precision="bfloat16"))
    assert low.dtype == torch.float32 and low.shape == exact.shape
    diff = (low - exact).abs().max()
    assert 0 < diff < 0.1  # bfloat16 rounding, not a different network

# --------------------------------------------------------------------------- official checkpoints

def _official_state_dict(seed: int = 0) -> dict:
    """A state dict in the official example's layout, with the obsolete running_* keys of old saves."""
    torch.manual_seed(seed)
    state = dict(TransformerNet(value_range=255.0).state_dict())
    for key in list(state):
        if key.endswith(".weight") and key.split(".")[-2].startswith("in"):
            prefix = key[: -len("weight")]
            channels = state[key].shape[0]
            state[prefix + "running_mean"] = torch.zeros(channels)
            state[prefix + "running_var"] = torch.ones(channels)
    return state


def test_official_layout_with_running_keys_loads(tmp_path):
    state = _official_state_dict()
    assert any("running_mean" in k for k in state) and "res3.in2.running_var" in state
    path = tmp_path / "mosaic.pth"
    torch.save(state, path)
    net = load_transformer(path)
    assert net.value_range == 255.0 and not net.training
    reference = TransformerNet(value_range=255.0)
    reference.load_state_dict(convert_official_state_dict(state))
    x = torch.rand(1, 3, 24, 30)
    torch.testing.assert_close(net(x), reference(x))
    # 0–255 network on [0, 1] images: scaling the input by 255 inside gives the same as
    # running the raw layers on 0–255 pixels and dividing by 255.
    raw = TransformerNet(value_range=1.0)
    raw.load_state_dict(net.state_dict())
    torch.testing.assert_close(net(x), raw(x * 255) / 255, rtol=1e-4, atol=1e-5)


def test_wrong_checkpoints_name_the_keys_and_the_file(tmp_path):
    state = _official_state_dict()
    del state["res2.conv1.conv2d.weight"]
    state["extra.layer"] = torch.zeros(1)
    with pytest.raises(CheckpointError,
                       match=r"missing keys res2\.conv1\.conv2d\.weight.*unexpected keys extra\.layer"):
        load_transformer(state)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pth"):
        load_transformer(broken)
    with pytest.raises(FileNotFoundError, match="download styles"):
        load_transformer(tmp_path / "missing.pth")


def _styles_zip(path: Path, names=fast_style.OFFICIAL_STYLES) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for i, name in enumerate(names):
            buf = io.BytesIO()
            torch.save(_official_state_dict(seed=i), buf)
            zf.writestr(f"saved_models/{name}.pth", buf.getvalue())
        zf.writestr("saved_models/README.txt", "other files are ignored")
    return path


def test_prefetch_unpacks_the_official_zip_and_styles_load(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DownloadError, match="download styles"):
        fast_style.load_official_style("mosaic")
    url = _styles_zip(tmp_path / "saved_models.zip").as_uri()
    found = pretrained_styles.prefetch_styles(url)
    assert sorted(found) == sorted(fast_style.OFFICIAL_STYLES)
    for name, path in found.items():
        assert path.parent == pretrained_styles.styles_dir() and path.is_file()
    net = fast_style.load_official_style("rain-princess")
    assert isinstance(net, TransformerNet) and net.value_range == 255.0
    with pytest.raises(ValueError, match="candy, mosaic"):
        pretrained_styles.official_style_path("scream")


def test_prefetch_failures_leave_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    not_zip = tmp_path / "page.html"
    not_zip.write_text("<html>quota exceeded</html>")
    with pytest.raises(DownloadError, match="did not send a zip"):
        pretrained_styles.prefetch_styles(not_zip.as_uri())
    with pytest.raises(DownloadError, match="cannot download"):
        pretrained_styles.prefetch_styles((tmp_path / "nothing.zip").as_uri())
    assert not any(pretrained_styles.styles_dir().glob("*"))


def test_prefetch_refuses_an_oversized_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = _styles_zip(tmp_path / "saved_models.zip").as_uri()
    monkeypatch.setattr(pretrained_styles, "MAX_ZIP_BYTES", 1024)
    with pytest.raises(DownloadError, match="more than"):
        pretrained_styles.prefetch_styles(url)
    assert not any(pretrained_styles.styles_dir().glob("*"))


def test_copy_limited_counts_bytes_and_stops_past_the_limit():
    from helpers.cache import copy_limited

    data = bytes(range(256)) * 1000          # 256 000 bytes: several 64 KiB chunks
    out = io.BytesIO()
    assert copy_limited(io.BytesIO(data), out, len(data)) == len(data) and out.getvalue() == data
    assert copy_limited(io.BytesIO(data), io.BytesIO(), len(data) - 1) is None
    assert copy_limited(io.BytesIO(b""), io.BytesIO(), 10) == 0


def test_styles_command_lists_and_reports_failures(tmp_path, monkeypatch, capsys):
    from helpers import cli

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert cli.main(["styles", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in fast_style.OFFICIAL_STYLES) and "missing" in out
    assert cli.main(["styles", "prefetch", "--url", (tmp_path / "none.zip").as_uri()]) == 1
    assert "FAILED" in capsys.readouterr().err


# --------------------------------------------------------------------------- photos

def _write_photo(path: Path, seed: int, size=(48, 40)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
    return path


def test_photo_stream_reads_a_folder_recursively_and_skips_broken_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    _write_photo(tmp_path / "one.png", 1)
    _write_photo(tmp_path / "a" / "b" / "two.jpg", 2)
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    stream = fast_style.PhotoStream(tmp_path, 32)
    assert len(stream) == 3
    with pytest.warns(UserWarning, match="broken.jpg"):
        batch = stream.batch(12, torch.Generator().manual_seed(0))
    assert batch.shape == (12, 3, 32, 32) and 0 <= batch.min() and batch.max() <= 1
    again = fast_style.PhotoStream(tmp_path, 32)
    with pytest.warns(UserWarning):
        torch.testing.assert_close(again.batch(12, torch.Generator().manual_seed(0)), batch)


def test_photo_stream_errors_name_the_folder(tmp_path):
    with pytest.raises(ImageLoadError, match=str(tmp_path)):
        fast_style.PhotoStream(tmp_path, 32)
    with pytest.raises(ImageLoadError, match="does not exist"):
        fast_style.PhotoStream(tmp_path / "nope", 32)
    with pytest.raises(ValueError, match="at least 16"):
        fast_style.PhotoStream(None, 8)


def test_bundled_photos_are_the_default():
    stream = fast_style.PhotoStream(None, 24)
    assert len(stream) >= 4
    assert stream.batch(3, torch.Generator().manual_seed(1)).shape == (3, 3, 24, 24)


# --------------------------------------------------------------------------- training loop

def _toy_loss(out, photos):
    """Cheap stand-in for the perceptual loss: match the mirrored photo (the loop does not care)."""
    return {"mirror": ((out - photos.flip(-1)) ** 2).mean(), "mean": 0.1 * (out.mean() - 0.5) ** 2}


def _train(steps, checkpoint=None, callbacks=(), seed_init=0, **kw):
    torch.manual_seed(seed_init)
    net = TransformerNet()
    photos = fast_style.PhotoStream(None, 24)
    return fast_style.train_transformer(net, _toy_loss, photos, steps=steps, batch_size=2, lr=1e-3, seed=5,
                                        checkpoint=checkpoint, progress=False, callbacks=callbacks, **kw)


def _interrupt_at(step):
    def callback(state):
        if state.step == step:
            raise KeyboardInterrupt
    return callback


def test_interrupted_and_resumed_training_continues_identically(tmp_path):
    straight = _train(6, checkpoint=tmp_path / "straight.pt", checkpoint_every=100)
    first = _train(6, checkpoint=tmp_path / "run.pt", callbacks=[_interrupt_at(3)])
    assert first.interrupted and first.steps_done == 3 and (tmp_path / "run.pt").is_file()
    assert checkpoints.read_checkpoint(tmp_path / "run.pt")["step"] == 3
    resumed = _train(6, checkpoint=tmp_path / "run.pt", seed_init=123)    # a different fresh init is overwritten
    assert resumed.resumed_from == 3 and resumed.steps_done == 6 and not resumed.interrupted
    for (name, a), b in zip(straight.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resuming"
    assert resumed.history == straight.history and len(resumed.history["total"]) == 6


def test_a_callback_returning_true_stops_training_and_the_result_is_the_loops_result(tmp_path):
    seen = []

    def enough(state):
        seen.append((state.step, state.image, set(state.losses)))
        return state.step == 2

    result = _train(5, checkpoint=tmp_path / "c.pt", callbacks=[enough])
    assert isinstance(result, OptimizationResult) and isinstance(result, fast_style.TrainingResult)
    assert seen == [(1, None, {"mirror", "mean", "total"}), (2, None, {"mirror", "mean", "total"})]
    assert result.steps_done == 2 and not result.interrupted
    assert result.stopped_reason == "stopped by callback enough after 2 of 5 steps"
    assert checkpoints.read_checkpoint(tmp_path / "c.pt")["step"] == 2     # saved where it stopped
    assert result.best_value == min(result.history["total"]) and len(result.times) == 2
    resumed = _train(5, checkpoint=tmp_path / "c.pt")
    assert resumed.resumed_from == 2 and resumed.steps_done == 5 and len(resumed.history["total"]) == 5
    assert [(s.first_step, s.steps) for s in resumed.stages] == [(2, 3)]


def test_callbacks_of_the_step_and_values_form_still_work_with_a_warning():
    calls = []

    def old_style(step, values):
        calls.append((step, values["total"]))
        if step == 2:
            raise KeyboardInterrupt

    with pytest.warns(DeprecationWarning, match="StepState"):
        result = _train(4, callbacks=[old_style])
    assert [s for s, _ in calls] == [1, 2] and result.interrupted and result.steps_done == 2
    assert calls[0][1] == result.history["total"][0]


def test_training_lowers_the_loss_and_records_each_term():
    result = _train(40)
    h = result.history
    assert set(h) == {"mirror", "mean", "total"} and all(len(v) == 40 for v in h.values())
    np.testing.assert_allclose(np.array(h["mirror"]) + np.array(h["mean"]), h["total"], rtol=1e-5)
    # Measured: mean of the last 5 steps = 0.25 × the first (40 steps, lr 1e-3, seed 0); asserted < 0.5.
    assert np.mean(h["total"][-5:]) < 0.5 * h["total"][0]
    assert not result.net.training


def test_a_finished_checkpoint_is_not_trained_again(tmp_path):
    done = _train(3, checkpoint=tmp_path / "c.pt")
    again = _train(3, checkpoint=tmp_path / "c.pt", seed_init=9)
    assert again.resumed_from == 3 and again.steps_done == 3 and again.history == done.history
    for a, b in zip(done.net.parameters(), again.net.parameters()):
        assert torch.equal(a, b)
    fresh = _train(2, checkpoint=tmp_path / "c.pt", resume=False)
    assert fresh.resumed_from == 0 and checkpoints.read_checkpoint(tmp_path / "c.pt")["step"] == 2


def test_resuming_with_other_settings_or_a_foreign_file_is_refused(tmp_path):
    _train(2, checkpoint=tmp_path / "c.pt")
    torch.manual_seed(0)
    with pytest.raises(KitError, match=r"batch_size 2 → 3.*resume=False"):
        fast_style.train_transformer(TransformerNet(), _toy_loss, fast_style.PhotoStream(None, 24), steps=4,
                                     batch_size=3, lr=1e-3, checkpoint=tmp_path / "c.pt", progress=False)
    torch.save(TransformerNet().state_dict(), tmp_path / "plain.pth")
    with pytest.raises(KitError, match="not a training checkpoint"):
        _train(2, checkpoint=tmp_path / "plain.pth")


def test_a_saved_training_checkpoint_loads_as_a_network(tmp_path):
    result = _train(2, checkpoint=tmp_path / "c.pt")
    net = load_transformer(tmp_path / "c.pt")
    assert net.value_range == 1.0
    x = torch.rand(1, 3, 20, 20)
    torch.testing.assert_close(net(x), result.net(x))


def test_non_finite_loss_stops_with_the_terms_named():
    def bad(out, photos):
        return {"content": out.mean() * float("nan")}
    with pytest.raises(FloatingPointError, match="content=nan"):
        fast_style.train_transformer(TransformerNet(), bad, fast_style.PhotoStream(None, 24), steps=2,
                                     batch_size=1, progress=False)


def test_default_checkpoint_is_in_the_kit_cache_and_temporary_when_grading(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    path = fast_style.default_checkpoint("starry night", "cpu", "imagenet", "seed0")
    assert path == tmp_path / "fast_style" / "starry_night-cpu-imagenet-seed0.pt"
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    graded = fast_style.default_checkpoint("starry night", "cpu")
    assert tmp_path not in graded.parents and not graded.exists()
    assert graded != fast_style.default_checkpoint("starry night", "cpu")


# --------------------------------------------------------------------------- checkpoint cache key

def _gram(f):
    b, c, h, w = f.shape
    x = f.reshape(b, c, h * w)
    return x @ x.transpose(1, 2) / (c * h * w)


def _content(f, t):
    return ((f - t) ** 2).flatten(1).sum(1).mean() / f[0].numel()


def _content_fixed(f, t):
    return ((f - t) ** 2).flatten(1).mean(1).mean()          # same value, other source text


def _style(fs, gs):
    return sum(((_gram(f) - g) ** 2).sum(dim=(1, 2)) for f, g in zip(fs, gs)).mean()


@pytest.fixture(scope="module")
def vgg_random():
    from helpers import models
    return models.FeatureExtractor("vgg16", list(fast_style.STYLE_LAYERS), weights="random")


def _perceptual(extractor, style=None, content_fn=_content, content_weight=1e5, style_weight=1e10):
    style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) if style is None else style
    return fast_style.PerceptualLoss(extractor, style, gram_fn=_gram, content_fn=content_fn, style_fn=_style,
                                     content_weight=content_weight, style_weight=style_weight)


def test_training_key_changes_with_every_setting_that_changes_training(vgg_random):
    photos = fast_style.PhotoStream(None, 24)
    settings = dict(steps=4, batch_size=1, lr=1e-3, seed=0, value_range=255.0)
    base = fast_style.training_key(_perceptual(vgg_random), photos, **settings)
    assert fast_style.training_key(_perceptual(vgg_random), photos, **settings) == base, "same training, same key"
    other_style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    changed = {
        "content weight": fast_style.training_key(_perceptual(vgg_random, content_weight=2e5), photos, **settings),
        "style weight": fast_style.training_key(_perceptual(vgg_random, style_weight=3e9), photos, **settings),
        "content function's source": fast_style.training_key(_perceptual(vgg_random, content_fn=_content_fixed),
                                                             photos, **settings),
        "style image": fast_style.training_key(_perceptual(vgg_random, style=other_style), photos, **settings),
        "crop size": fast_style.training_key(_perceptual(vgg_random), fast_style.PhotoStream(None, 32), **settings),
        "photos": fast_style.training_key(_perceptual(vgg_random), fast_style.PhotoStream(["chelsea"], 24),
                                          **settings),
        **{k: fast_style.training_key(_perceptual(vgg_random), photos, **{**settings, k: v})
           for k, v in [("steps", 5), ("batch_size", 2), ("lr", 2e-3), ("seed", 1), ("value_range", 1.0)]},
    }
    for what, key in changed.items():
        assert key != base, f"changing the {what} must change the key"


def test_source_digest_uses_the_source_and_falls_back_to_the_compiled_code():
    def compiled(text):
        namespace = {}
        exec(compile(text, "<no file: notebook cell>", "exec"), namespace)   # no source to be had
        return namespace["loss"]

    a = compiled("def loss(f, t):\n    return ((f - t) ** 2).mean()\n")
    a_again = compiled("def loss(f, t):\n    return ((f - t) ** 2).mean()\n")
    b = compiled("def loss(f, t):\n    return ((f - t) ** 2).sum()\n")
    c = compiled("def loss(f, t):\n    return ((f - t) ** 2).mean() / 2\n")
    with pytest.raises(OSError):
        import inspect
        inspect.getsource(a)
    assert fast_style.source_digest(a) == fast_style.source_digest(a_again)
    assert len({fast_style.source_digest(f) for f in (a, b, c)}) == 3
    assert fast_style.source_digest(_content) != fast_style.source_digest(_content_fixed)
    import functools
    assert fast_style.source_digest(functools.partial(_content)) != fast_style.source_digest(_content)


def test_cached_checkpoint_is_missed_after_a_loss_change_and_hit_for_the_same_training(tmp_path, monkeypatch,
                                                                                          vgg_random):
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    photos = fast_style.PhotoStream(None, 24)

    def run(loss):
        key = fast_style.training_key(loss, photos, steps=2, batch_size=1, lr=1e-3, seed=0, value_range=255.0)
        torch.manual_seed(0)
        return fast_style.train_transformer(TransformerNet(value_range=255.0), loss, photos, steps=2, batch_size=1,
                                            checkpoint=fast_style.default_checkpoint("style", key), progress=False)

    first = run(_perceptual(vgg_random))
    assert first.resumed_from == 0 and first.checkpoint.is_file()
    hit = run(_perceptual(vgg_random))
    assert hit.checkpoint == first.checkpoint and hit.resumed_from == 2 and hit.history == first.history
    for label, loss in [("a changed loss weight", _perceptual(vgg_random, style_weight=5e9)),
                        ("a corrected loss function", _perceptual(vgg_random, content_fn=_content_fixed))]:
        miss = run(loss)
        assert miss.checkpoint != first.checkpoint and miss.resumed_from == 0, label
    # Resuming a named file with another loss is refused, not silently continued.
    torch.manual_seed(0)
    with pytest.raises(KitError, match="loss"):
        fast_style.train_transformer(TransformerNet(value_range=255.0), _perceptual(vgg_random, content_weight=1.0),
                                     photos, steps=3, batch_size=1, checkpoint=first.checkpoint, progress=False)


# --------------------------------------------------------------------------- instructor trainer, DDP

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(tmp_path, steps, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           str(REPO / "instructor" / "train_fast_style.py"), "--style", "ihc", "--style-size", "48", "--crop", "32",
           "--batch-size", "1", "--steps", str(steps), "--weights", "random", "--backend", "gloo", "--device", "cpu",
           "--out", str(tmp_path / "out"), "--checkpoint-every", "2", "--quiet",
           "--summary", str(tmp_path / "summary-{rank}.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((tmp_path / f"summary-{r}.json").read_text()) for r in range(nproc)]


def test_instructor_trainer_runs_under_torchrun_with_two_gloo_processes(tmp_path):
    first = _torchrun(tmp_path, steps=3)
    assert [s["world_size"] for s in first] == [2, 2] and all(s["steps_done"] == 3 for s in first)
    # DistributedDataParallel keeps the replicas identical: same weights in both processes.
    assert first[0]["param_sum"] == first[1]["param_sum"]
    assert first[0]["param_abs_sum"] == first[1]["param_abs_sum"]
    state = checkpoints.read_checkpoint(tmp_path / "out" / "ihc.checkpoint.pt")
    assert state["step"] == 3 and len(state["generator_states"]) == 2 and state["config"]["world_size"] == 2
    assert not torch.equal(state["generator_states"][0], state["generator_states"][1]), "each rank draws its own crops"
    model = load_transformer(tmp_path / "out" / "ihc.pth")
    assert isinstance(model, TransformerNet)
    again = _torchrun(tmp_path, steps=5)
    assert all(s["resumed_from"] == 3 and s["steps_done"] == 5 for s in again)
    assert again[0]["param_sum"] == again[1]["param_sum"]
