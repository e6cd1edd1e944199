"""Control panels without a browser: build them, press their buttons, stop runs, check the fallback.

The notebook functions the panels take are replaced by small stand-ins whose effect is
known (a quadratic objective, a step that brightens one channel), so what reaches them
and what comes back can be checked exactly. Slow stand-ins (a sleep per step) leave time
to press Stop while a run is in its background thread.
"""
from __future__ import annotations

import base64
import io
import re
import time
import types

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("ipywidgets")

from helpers import widgets  # noqa: E402


def _wait_for(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


# --------------------------------------------------------------------------- front-end detection

def test_show_prints_one_line_without_a_notebook(capsys):
    panel = widgets.StyleTransferPanel(lambda *a, **k: None, style_layers=["relu1_1"])
    panel.show()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "needs a live notebook" in out and out.startswith("Neural style transfer")
    assert panel._widget is None, "nothing is built when nothing can show it"


def _fake_shell(monkeypatch, allow_stdin):
    import IPython
    kernel = types.SimpleNamespace(_allow_stdin=allow_stdin)
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=kernel))


def test_live_frontend_detection(monkeypatch):
    assert not widgets.live_frontend()                      # plain Python: no kernel
    _fake_shell(monkeypatch, allow_stdin=True)
    assert widgets.live_frontend()                          # JupyterLab, Notebook 7, VS Code, Colab
    _fake_shell(monkeypatch, allow_stdin=False)
    assert not widgets.live_frontend()                      # nbclient / papermill / the demo
    monkeypatch.setenv(widgets.WIDGETS_ENV, "1")
    assert widgets.live_frontend()                          # forced on (Voilà)
    monkeypatch.setenv(widgets.WIDGETS_ENV, "0")
    _fake_shell(monkeypatch, allow_stdin=True)
    assert not widgets.live_frontend()


def test_grading_mode_always_falls_back(monkeypatch, capsys):
    _fake_shell(monkeypatch, allow_stdin=True)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert not widgets.live_frontend()
    widgets.DeepDreamPanel(lambda f, x, s: x, lambda name: (lambda x: x), layers=["a"]).show()
    assert "DeepDream: needs a live notebook" in capsys.readouterr().out


# --------------------------------------------------------------------------- style transfer

class _Recorder:
    """A build_objective stand-in: (x − content)² plus a pull towards the style's mean colour;
    records its keyword arguments; sleeps ``delay`` s per evaluation."""

    def __init__(self, delay=0.0):
        self.delay, self.calls = delay, []

    def __call__(self, content, style, **kwargs):
        self.calls.append(dict(kwargs, content=content, style=style))
        mean = style.mean(dim=(2, 3), keepdim=True)

        def objective(x):
            time.sleep(self.delay)
            return {"content": kwargs["content_weight"] * (x - content).pow(2).mean(),
                    "style": kwargs["style_weight"] * (x - mean).pow(2).mean()}
        return objective


def _style_panel(recorder, **kwargs):
    panel = widgets.StyleTransferPanel(recorder, style_layers=["relu1_1", "relu2_1", "relu3_1"],
                                       checked=["relu1_1", "relu3_1"], content="chelsea", style="ihc",
                                       size=32, steps=5, optimizer="adam", **kwargs)
    panel.widget  # noqa: B018
    return panel


def test_style_panel_passes_its_settings_and_offers_the_result():
    recorder = _Recorder()
    panel = _style_panel(recorder, preview_every=2)
    panel.alpha.value, panel.beta.value = 10.0, 100.0
    panel.tv_on.value, panel.gamma.value = True, 1e-3
    panel.layer_boxes["relu2_1"].value = True
    panel.run_button.click()
    assert panel.wait(60)
    assert panel.error is None, panel.error
    call = recorder.calls[-1]
    assert call["content_weight"] == pytest.approx(10.0) and call["style_weight"] == pytest.approx(100.0)
    assert call["tv_weight"] == pytest.approx(1e-3)
    assert call["style_layers"] == ["relu1_1", "relu2_1", "relu3_1"]
    assert max(call["content"].shape[-2:]) == 32 and call["style"].shape[-2:] == (32, 32)
    out = panel.outcome
    assert out.steps_done == 5 and not out.stopped_reason
    assert torch.equal(panel.result, out.best_image.cpu())
    assert _png_size(panel.image.value) == (panel.result.shape[-1], panel.result.shape[-2])
    data = re.search(r'href="data:image/png;base64,([^"]+)"', panel.download.value).group(1)
    assert _png_size(base64.b64decode(data)) == _png_size(panel.image.value)
    assert 'download="style_transfer.png"' in panel.download.value
    assert not panel.run_button.disabled and panel.stop_button.disabled
    # γ switched off reaches the objective as 0
    panel.tv_on.value = False
    assert panel.settings()["tv_weight"] == 0.0


def test_stop_ends_a_style_run_early_and_keeps_the_best_image():
    panel = _style_panel(_Recorder(delay=0.02), preview_every=1)
    panel.steps.value = 1000
    first_preview = []
    assert panel.run()
    assert _wait_for(lambda: panel.image.value and (first_preview.append(bytes(panel.image.value)) or True))
    assert panel.run_button.disabled and not panel.stop_button.disabled
    assert not panel.run(), "a second Run while one is running starts nothing"
    assert _wait_for(lambda: bytes(panel.image.value) != first_preview[0]), "the preview updates while it runs"
    panel.stop_button.click()
    assert panel.wait(30)
    out = panel.outcome
    assert 0 < out.steps_done < 1000 and "stopped by callback" in out.stopped_reason
    # the best of the recorded steps, or the image the last step produced (evaluated once after a stop)
    assert out.best_loss <= min(out.history["total"]) + 1e-6
    assert torch.equal(panel.result, out.best_image.cpu())
    assert "stopped; best so far kept" in panel.status.value
    assert "data:image/png" in panel.download.value


def test_a_failing_run_is_reported_in_the_panel():
    panel = _style_panel(_Recorder())
    for box in panel.layer_boxes.values():
        box.value = False
    panel.run()
    assert panel.wait(30)
    assert isinstance(panel.error, ValueError) and "style layer" in panel.status.value
    assert not panel.run_button.disabled, "the panel can run again"


def test_uploaded_image_is_offered_and_loaded():
    picker = widgets.ImagePicker("style", widgets.style_choices(), "ihc")
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 40, 3), (255, 0, 0), np.uint8)).save(buf, format="PNG")
    picker.add_upload("red.png", buf.getvalue())
    assert picker.dropdown.value == "upload: red.png"
    image = picker.load(16)
    assert tuple(image.shape) == (1, 3, 8, 16)
    assert torch.allclose(image.mean(dim=(2, 3)).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=0.02)
    picker.dropdown.value = "ihc"
    assert picker.load(16).shape[-2:] == (16, 16)


# --------------------------------------------------------------------------- DeepDream

def _dream_panel(delay=0.0):
    seen = {}

    def dream_step(feature_fn, x, step_size):
        time.sleep(delay)
        seen["step_size"] = step_size
        return x + step_size * feature_fn(x).sign()

    def layer_features(name):
        seen["layer"] = name
        return lambda x: x - 0.5

    panel = widgets.DeepDreamPanel(dream_step, layer_features, layers=["inception3b", "inception4c"],
                                   layer="inception4c", size=48, octaves=2, steps_per_octave=3, jitter=2)
    panel.widget  # noqa: B018
    return panel, seen


def test_dream_panel_runs_the_notebooks_step_at_the_chosen_layer():
    panel, seen = _dream_panel()
    panel.layer.value = "inception3b"
    panel.step_size.value = 3.0
    panel.run_button.click()
    assert panel.wait(60) and panel.error is None, panel.error
    assert seen["layer"] == "inception3b" and seen["step_size"] == pytest.approx(3.0 / 255)
    out = panel.outcome
    assert [s.steps for s in out.stages] == [3, 3] and out.steps_done == 6
    assert panel.result.shape[-2:] == (32, 48)  # coffee is 512×341: longest side 48
    assert not out.interrupted


def test_stop_ends_a_dream_early_and_keeps_it_at_full_size():
    panel, _ = _dream_panel(delay=0.05)
    panel.steps.value = 100
    panel.run()
    assert _wait_for(lambda: panel.runner.running and panel.image.value)
    panel.stop()
    assert panel.wait(30)
    out = panel.outcome
    assert "stopped by callback" in out.stopped_reason and not out.interrupted
    assert out.steps_done < 200
    assert panel.result.shape[-2:] == (32, 48), "the dream so far, upsampled to the photo's size"
    assert "stopped" in panel.status.value


# --------------------------------------------------------------------------- class visualisation

CLASSES = ["tabby cat", "dalmatian", "flamingo", "pelican"]


def _class_panel(delay=0.0):
    seen = {"regularisers": []}

    def make_step(target, l2_reg):
        seen["target"], seen["l2_reg"] = target, l2_reg

        def step(x):
            time.sleep(delay)
            out = x.clone()
            out[:, target % 3] += 0.05
            return out
        return step

    def regularisers(**flags):
        seen["regularisers"].append(flags)
        return []

    panel = widgets.ClassVisualizationPanel(
        make_step, regularisers, lambda im, target: im[:, target % 3].mean(), categories=CLASSES,
        target="dalmatian", l2_reg=0.01, jitter=2, size=16, steps=8, on=("l2", "blur"))
    panel.widget  # noqa: B018
    return panel, seen


def test_class_panel_takes_class_by_name_and_switches_regularisers():
    panel, seen = _class_panel()
    panel.target.value = "flamingo"
    panel.toggles["l2"].value = False
    panel.toggles["values"].value = True
    panel.run_button.click()
    assert panel.wait(60) and panel.error is None, panel.error
    assert seen["target"] == 2 and seen["l2_reg"] == 0.0
    assert seen["regularisers"][-1] == {"decay": False, "blur": True, "values": True, "contributions": False}
    out = panel.outcome
    assert out.steps_done == 8 and out.best_loss == pytest.approx(max(out.history["score"]))
    assert "flamingo: 8 steps" in panel.status.value
    assert panel.result[0, 2].mean() > panel.result[0, 0].mean(), "the flamingo channel was raised"


def test_class_panel_combobox_searches_the_imagenet_names():
    from helpers.models import imagenet_categories
    cats = imagenet_categories()
    panel = widgets.ClassVisualizationPanel(lambda t, l: (lambda x: x), lambda **k: [], lambda im, t: im.mean(),
                                            categories=cats, target="flamingo", l2_reg=0.0, jitter=0)
    panel.widget  # noqa: B018
    assert len(panel.target.options) == 1000 and panel.target.ensure_option
    assert cats[panel.target_index()] == "flamingo"
    panel.target.value = "Siberian husky"
    assert cats[panel.target_index()] == "Siberian husky"


def test_stop_ends_a_class_visualisation_early():
    panel, _ = _class_panel(delay=0.02)
    panel.steps.value = 1000
    panel.run()
    assert _wait_for(lambda: panel.image.value)
    panel.stop_button.click()
    assert panel.wait(30)
    assert 0 < panel.outcome.steps_done < 1000 and "stopped by callback" in panel.outcome.stopped_reason
    assert torch.equal(panel.result, panel.outcome.best_image.cpu())
