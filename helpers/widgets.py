"""Control panels (ipywidgets) for live lecture demos: style transfer, DeepDream, class visualisation.

Each panel is a small object built from parts that compose: image pickers
(:class:`ImagePicker`), sliders and check boxes, Run and Stop buttons, a live preview
and, where it makes sense, a download link for the result. The panels hold no exercise
answers: a notebook passes in its own functions (the student's losses and step functions,
the notebook's objective builders), and the panel only supplies the settings and runs
the kit's loops (:func:`helpers.optim.optimize_image`, :func:`helpers.optim.gradient_ascent_loop`,
:func:`helpers.deepdream.dream`).

Images are float tensors ``[1, 3, H, W]`` in [0, 1]; sizes are pixels of the longest side.

Threads. **Run** starts the work in a background thread and returns at once, so the
kernel keeps handling widget messages while it runs: the **Stop** button sets a
:class:`threading.Event`, which the loop polls after every step (an ``optimize_image``
or :func:`~helpers.deepdream.dream` callback). The loop ends after the current step and
the panel keeps the best image so far. One run at a time per panel.

Without a live front end — under nbgrader (``NBGRADER_EXECUTION``), headless execution
(nbclient, papermill, ``python -m instructor demo``: requests that do not allow stdin), or
without ipywidgets — :meth:`Panel.show` prints one line and returns; nothing is built or
run. ``KIT_WIDGETS=1`` or ``0`` overrides the detection (e.g. ``1`` for Voilà).
"""
from __future__ import annotations

import base64
import html
import io
import os
import threading
from typing import Callable, Mapping, Sequence

import torch

from helpers.devices import grading_mode
from helpers.display import LivePreview, png_bytes

Tensor = torch.Tensor

WIDGETS_ENV = "KIT_WIDGETS"
NEEDS_LIVE_NOTEBOOK = ("needs a live notebook with widgets (JupyterLab, Notebook 7, VS Code or Colab); "
                       "skipped here")
PREVIEW_WIDTH = 320  # screen pixels: the preview keeps its size while octaves or sizes change


def live_frontend() -> bool:
    """True when widgets shown now reach a person: a kernel with ipywidgets, a front end that
    allows stdin (headless runners do not), and not grading. ``$KIT_WIDGETS`` overrides."""
    forced = os.environ.get(WIDGETS_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if grading_mode():
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None) if shell is not None else None
    if kernel is None:
        return False
    return bool(getattr(kernel, "_allow_stdin", True))


def data_uri_link(image: Tensor, filename: str, text: str = "Download the result") -> str:
    """An HTML ``<a download>`` link carrying ``image`` (``[1,3,H,W]`` in [0,1]) as a PNG data URI."""
    data = base64.b64encode(png_bytes(image)).decode("ascii")
    h, w = image.shape[-2:]
    return (f'<a download="{html.escape(filename)}" href="data:image/png;base64,{data}" '
            f'style="font-weight:600; color:#0b5cad; text-decoration:underline">'
            f'{html.escape(text)} ({filename}, {w}×{h} px)</a>')


# --------------------------------------------------------------------------- parts

class Runner:
    """Runs one job at a time in a background thread (or inline with ``background=False``).

    ``stop_requested`` can be passed to any loop's ``callbacks=[...]`` (``optimize_image``,
    ``gradient_ascent_loop``, ``deepdream.dream``, the training loops): it returns True once
    :meth:`stop` was called.
    """

    def __init__(self, background: bool = True):
        self.background = background
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, job: Callable[[], None]) -> bool:
        """Start ``job()``; False (and nothing started) while another job runs."""
        if self.running:
            return False
        self.stop_event.clear()
        if not self.background:
            job()
            return True
        self.thread = threading.Thread(target=job, name="kit-panel", daemon=True)
        self.thread.start()
        return True

    def stop(self) -> None:
        self.stop_event.set()

    def stop_requested(self, state=None) -> bool:
        """A loop callback: True (stop) once Stop was pressed."""
        return self.stop_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job; True when none is running any more."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running


class ImagePicker:
    """A dropdown over named images plus a file upload; :meth:`load` gives ``[1,3,H,W]`` in [0,1].

    ``names`` maps an image name accepted by :func:`helpers.images.load_image` to the label
    shown. An uploaded file is added to the dropdown as ``upload: <file name>`` and selected.
    """

    def __init__(self, label: str, names: Mapping[str, str], value: str | None = None, upload: bool = True):
        import ipywidgets as w
        self.uploads: dict[str, bytes] = {}
        options = [(text, name) for name, text in names.items()]
        if value is not None and value not in names:
            options.insert(0, (str(value), value))
        self.dropdown = w.Dropdown(options=options, value=value if value is not None else options[0][1],
                                   description=label, layout=w.Layout(width="340px"))
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="upload") if upload else None
        if self.upload is not None:
            self.upload.observe(self._on_upload, names="value")
        self.widget = w.HBox([self.dropdown] + ([self.upload] if self.upload is not None else []))

    def _on_upload(self, change) -> None:
        for item in change["new"] or ():
            key = f"upload: {item['name']}"
            self.uploads[key] = bytes(item["content"])
            if key not in [v for _, v in self.dropdown.options]:
                self.dropdown.options = list(self.dropdown.options) + [(key, key)]
            self.dropdown.value = key

    def add_upload(self, name: str, content: bytes) -> None:
        """What the upload button does with a file ``name`` of bytes ``content`` (also for scripts)."""
        self._on_upload({"new": ({"name": name, "content": memoryview(content)},)})

    def load(self, size: int) -> Tensor:
        """The chosen image, longest side ``size`` pixels, ``[1, 3, H, W]`` in [0, 1]."""
        from helpers import images
        key = self.dropdown.value
        source = io.BytesIO(self.uploads[key]) if key in self.uploads else key
        return images.load_image(source, size=int(size))


def _log_slider(label: str, value: float, low: float, high: float):
    import ipywidgets as w
    return w.FloatLogSlider(value=value, base=10, min=low, max=high, step=0.25, description=label,
                            readout_format=".1e", continuous_update=False, style={"description_width": "110px"},
                            layout=w.Layout(width="420px"))


def _int_slider(label: str, value: int, low: int, high: int, step: int = 1):
    import ipywidgets as w
    return w.IntSlider(value=int(min(max(value, low), high)), min=low, max=high, step=step, description=label,
                       continuous_update=False, style={"description_width": "110px"}, layout=w.Layout(width="420px"))


class _PanelPreview(LivePreview):
    """A :class:`LivePreview` drawing into a panel's own image and caption widgets;
    ``show`` maps the image before display (e.g. a contrast stretch)."""

    def __init__(self, image_widget, caption_widget, title: str, show: Callable[[Tensor], Tensor] | None = None):
        super().__init__(title=title)
        self._widget, self._caption = image_widget, caption_widget
        self.show = show

    def update(self, image, step=None, losses=None) -> None:
        if self.show is not None:
            with torch.no_grad():
                image = self.show(image.detach())
        super().update(image, step=step, losses=losses)


# --------------------------------------------------------------------------- the panel base

class Panel:
    """Run/Stop buttons, a status line, a live preview and a download link around one job.

    Subclasses define :meth:`_controls` (the settings widgets) and :meth:`_work` (the job:
    returns the image to keep). After a run, :attr:`result` holds that image, :attr:`outcome`
    whatever the loop returned, :attr:`error` the exception when it failed.
    """

    title = "panel"
    filename = "result.png"

    def __init__(self, *, preview_every: int = 5, device: torch.device | str | None = None,
                 show: Callable[[Tensor], Tensor] | None = None, background: bool = True):
        self.preview_every = preview_every
        self.device = torch.device(device) if device is not None else None
        self.show_fn = show
        self.runner = Runner(background)
        self.result: Tensor | None = None
        self.outcome = None
        self.error: BaseException | None = None
        self._widget = None

    # -- building
    def _controls(self) -> list:
        raise NotImplementedError

    def _work(self, preview: LivePreview, stop: Runner):
        """Run the job with ``preview`` and ``stop``; return ``(image_to_keep, outcome, summary_text)``."""
        raise NotImplementedError

    @property
    def widget(self):
        """The panel's root widget (built on first use)."""
        if self._widget is None:
            import ipywidgets as w
            self.run_button = w.Button(description="Run", button_style="success", icon="play")
            self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
            self.run_button.on_click(lambda _: self.run())
            self.stop_button.on_click(lambda _: self.stop())
            self.status = w.HTML(value="press Run")
            self.image = w.Image(format="png", layout=w.Layout(width=f"{PREVIEW_WIDTH}px"))
            self.caption = w.HTML()
            self.download = w.HTML()
            self.preview_slider = _int_slider("preview every", self.preview_every, 1, 50)
            controls = self._controls()
            buttons = w.HBox([self.run_button, self.stop_button, self.status])
            right = w.VBox([self.caption, self.image, self.download])
            left = w.VBox([w.HTML(f"<b>{html.escape(self.title)}</b>"), *controls, self.preview_slider, buttons],
                          layout=w.Layout(margin="0 16px 0 0"))
            self._widget = w.HBox([left, right], layout=w.Layout(flex_flow="row wrap"))
            self._widget.add_class("kit-panel")
        return self._widget

    def show(self) -> None:
        """Display the panel in a live notebook; elsewhere print one line and return."""
        if not live_frontend():
            print(f"{self.title}: {NEEDS_LIVE_NOTEBOOK}")
            return
        from IPython.display import display
        display(self.widget)

    # -- running
    def _set_status(self, text: str, colour: str = "#444") -> None:
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def run(self) -> bool:
        """What the Run button does: start the job (False when one is running already)."""
        self.widget  # noqa: B018 - build the widgets
        preview = _PanelPreview(self.image, self.caption, self.title, self.show_fn)
        self.preview_every = int(self.preview_slider.value)

        def job():
            self.run_button.disabled, self.stop_button.disabled = True, False
            self._set_status("running …")
            self.error = None
            try:
                image, self.outcome, summary = self._work(preview, self.runner)
                self.result = image.detach().cpu()
                preview.update(self.result, step=None)
                self.download.value = data_uri_link(self.result, self.filename)
                stopped = (" (stopped; best so far kept)" if getattr(self.outcome, "interrupted", False)
                           or "callback" in getattr(self.outcome, "stopped_reason", "") else "")
                self._set_status(summary + stopped, "#1b7f3b")
            except Exception as exc:  # shown in the panel: a background thread has no cell to raise into
                self.error = exc
                self._set_status(f"{type(exc).__name__}: {exc}", "#b00020")
            finally:
                self.run_button.disabled, self.stop_button.disabled = False, True

        return self.runner.start(job)

    def stop(self) -> None:
        """What the Stop button does: the loop ends after its current step."""
        self.runner.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends (for scripts and tests); True when it has."""
        return self.runner.wait(timeout)

    def _where(self, image: Tensor) -> Tensor:
        return image.to(self.device) if self.device is not None else image


# --------------------------------------------------------------------------- style transfer

def style_choices() -> dict[str, str]:
    """Style images offered by default: the bundled textures, then the paintings (fetched once)."""
    from helpers import samples
    out = {name: f"texture: {name}" for name in samples.samples("texture")}
    out.update({name: f"painting: {label}" for name, label in samples.list_paintings().items()})
    return out


def content_choices() -> dict[str, str]:
    """The bundled content photos."""
    from helpers import samples
    return {name: f"photo: {name}" for name in samples.samples("content")}


class StyleTransferPanel(Panel):
    """Content and style pickers, α/β/γ sliders (log scale), style-layer check boxes, size, steps.

    Args:
        build_objective: the notebook's ``build_objective(content, style, *, content_weight,
            style_weight, tv_weight, style_layers) -> objective(image) -> loss or dict``;
            ``content``/``style`` are ``[1,3,H,W]`` on the panel's device.
        style_layers: the layers offered as check boxes; ``checked``: those ticked at first.
        content, style: names selected at first; size (px), steps, the weights: first values.
        optimizer: passed to ``optimize_image``.
    """

    title = "Neural style transfer"
    filename = "style_transfer.png"

    def __init__(self, build_objective: Callable, *, style_layers: Sequence[str], checked: Sequence[str] | None = None,
                 content: str = "chelsea", style: str = "ihc", content_weight: float = 1.0,
                 style_weight: float = 1e3, tv_weight: float = 0.0, size: int = 128, steps: int = 50,
                 optimizer: str = "lbfgs", **kwargs):
        super().__init__(**kwargs)
        self.build_objective = build_objective
        self.layers = list(style_layers)
        self.checked = list(self.layers if checked is None else checked)
        self.initial = dict(content=content, style=style, content_weight=content_weight, style_weight=style_weight,
                            tv_weight=tv_weight, size=size, steps=steps)
        self.optimizer = optimizer

    def _controls(self) -> list:
        import ipywidgets as w
        i = self.initial
        self.content_picker = ImagePicker("content", content_choices(), i["content"])
        self.style_picker = ImagePicker("style", style_choices(), i["style"])
        self.alpha = _log_slider("content α", i["content_weight"] or 1.0, -3, 3)
        self.beta = _log_slider("style β", i["style_weight"] or 1e3, -2, 8)
        self.tv_on = w.Checkbox(value=i["tv_weight"] > 0, description="TV", indent=False, layout=w.Layout(width="60px"))
        self.gamma = _log_slider("TV γ", i["tv_weight"] or 1e-2, -6, 2)
        self.layer_boxes = {name: w.Checkbox(value=name in self.checked, description=name, indent=False,
                                             layout=w.Layout(width="90px")) for name in self.layers}
        self.size = _int_slider("size (px)", i["size"], 32, 512, 16)
        self.steps = _int_slider("steps", i["steps"], 1, 1000)
        return [self.content_picker.widget, self.style_picker.widget, self.alpha, self.beta,
                w.HBox([self.gamma, self.tv_on]),
                w.HBox([w.Label("style layers", layout=w.Layout(width="110px")), *self.layer_boxes.values()]),
                self.size, self.steps]

    def settings(self) -> dict:
        """The values the next run uses."""
        self.widget  # noqa: B018
        return dict(content_weight=float(self.alpha.value), style_weight=float(self.beta.value),
                    tv_weight=float(self.gamma.value) if self.tv_on.value else 0.0,
                    style_layers=[n for n, box in self.layer_boxes.items() if box.value],
                    size=int(self.size.value), steps=int(self.steps.value))

    def _work(self, preview, stop):
        from helpers.optim import optimize_image
        s = self.settings()
        if not s["style_layers"]:
            raise ValueError("tick at least one style layer")
        content = self._where(self.content_picker.load(s["size"]))
        style = self._where(self.style_picker.load(s["size"]))
        objective = self.build_objective(content, style, content_weight=s["content_weight"],
                                         style_weight=s["style_weight"], tv_weight=s["tv_weight"],
                                         style_layers=s["style_layers"])
        out = optimize_image(objective, content.clone(), steps=s["steps"], optimizer=self.optimizer,
                             callbacks=[stop.stop_requested], preview=preview, preview_every=self.preview_every,
                             progress=False, desc="style transfer")
        return out.best_image, out, (f"{out.steps_done} of {s['steps']} steps in {out.total_time:.1f} s; "
                                     f"best loss {out.best_value:.3g}")


# --------------------------------------------------------------------------- DeepDream

class DeepDreamPanel(Panel):
    """Photo, layer, octaves, octave scale, step size and steps per octave for :func:`helpers.deepdream.dream`.

    Args:
        dream_step: the notebook's ``dream_step(feature_fn, image, step_size) -> image``.
        layer_features: ``layer_features(name) -> feature_fn(image) -> activations`` (the
            notebook builds its extractor here).
        layers: layer names offered; ``layer``: the one selected at first.
        step_size: in pixel levels of 0–255 on the slider (1.5 as in the original notebook);
            the step receives ``step_size / 255`` ([0, 1] pixel units).
    """

    title = "DeepDream"
    filename = "deepdream.png"

    def __init__(self, dream_step: Callable, layer_features: Callable[[str], Callable], *, layers: Sequence[str],
                 layer: str | None = None, photo: str = "coffee", size: int = 224, octaves: int = 4,
                 octave_scale: float = 1.4, step_size: float = 1.5, steps_per_octave: int = 10, jitter: int = 32,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.dream_step, self.layer_features = dream_step, layer_features
        self.layers = list(layers)
        self.initial = dict(layer=layer or self.layers[0], photo=photo, size=size, octaves=octaves,
                            octave_scale=octave_scale, step_size=step_size, steps=steps_per_octave)
        self.jitter, self.seed = jitter, seed

    def _controls(self) -> list:
        import ipywidgets as w
        i = self.initial
        self.photo_picker = ImagePicker("photo", content_choices(), i["photo"])
        self.layer = w.Dropdown(options=self.layers, value=i["layer"], description="layer")
        self.size = _int_slider("size (px)", i["size"], 32, 512, 16)
        self.octaves = _int_slider("octaves", i["octaves"], 1, 8)
        self.octave_scale = w.FloatSlider(value=i["octave_scale"], min=1.1, max=2.0, step=0.05,
                                          description="octave scale",
                                          continuous_update=False, style={"description_width": "110px"})
        self.step_size = w.FloatSlider(value=i["step_size"], min=0.1, max=10.0, step=0.1, description="step (of 255)",
                                       continuous_update=False, style={"description_width": "110px"})
        self.steps = _int_slider("steps / octave", i["steps"], 1, 100)
        return [self.photo_picker.widget, self.layer, self.size, self.octaves, self.octave_scale, self.step_size,
                self.steps]

    def _work(self, preview, stop):
        from helpers import deepdream
        photo = self._where(self.photo_picker.load(int(self.size.value)))
        feature_fn = self.layer_features(self.layer.value)
        step_size = float(self.step_size.value) / 255

        out = deepdream.dream(photo, lambda x: self.dream_step(feature_fn, x, step_size),
                              octaves=int(self.octaves.value),
                              octave_scale=float(self.octave_scale.value), steps_per_octave=int(self.steps.value),
                              jitter=self.jitter, generator=torch.Generator().manual_seed(self.seed), progress=False,
                              preview=preview, preview_every=self.preview_every, callbacks=[stop.stop_requested])
        return out.image, out, f"{self.layer.value}: {len(out.stages)} octave(s), {out.steps_done} steps"


# --------------------------------------------------------------------------- class visualisation

REGULARISERS = ("decay", "blur", "values", "contributions")
_REG_LABELS = {"l2": "λ‖I‖² in the step", "jitter": "jitter", "decay": "L2 decay", "blur": "blur",
               "values": "clip small values", "contributions": "clip small contributions"}


class ClassVisualizationPanel(Panel):
    """A class picker searchable by name, regulariser toggles, size and steps; gradient ascent from black.

    Args:
        make_step: the notebook's ``make_step(target, l2_reg) -> step_fn(image) -> image``
            (e.g. its ``AdaptiveStep`` around the student's ``class_visualization_step``).
        regularisers: ``regularisers(decay=, blur=, values=, contributions=) -> [post-step transforms]``.
        score: ``score(image, target) -> 0-d tensor`` recorded per step (best image = highest).
        categories: class names (e.g. :func:`helpers.models.imagenet_categories`).
        l2_reg, jitter: the λ and jitter (pixels) switched on by their toggles.
        on: toggles ticked at first, from ``("l2", "jitter", "decay", "blur", "values", "contributions")``.
    """

    title = "Class visualisation"
    filename = "class_visualisation.png"

    def __init__(self, make_step: Callable, regularisers: Callable, score: Callable, *, categories: Sequence[str],
                 target: str, l2_reg: float, jitter: int, size: int = 128, steps: int = 100,
                 on: Sequence[str] = ("l2", "jitter", "blur"), seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.make_step, self.regularisers, self.score = make_step, regularisers, score
        self.categories = list(categories)
        self.initial = dict(target=target, size=size, steps=steps)
        self.l2_reg, self.jitter, self.on, self.seed = l2_reg, jitter, set(on), seed

    def _controls(self) -> list:
        import ipywidgets as w
        i = self.initial
        from helpers.models import class_index
        first = self.categories[class_index(i["target"], self.categories)]
        self.target = w.Combobox(options=self.categories, value=first, ensure_option=True,
                                 placeholder="type a class name", description="class",
                                 layout=w.Layout(width="340px"))
        self.toggles = {k: w.Checkbox(value=k in self.on, description=label, indent=False,
                                      layout=w.Layout(width="190px")) for k, label in _REG_LABELS.items()}
        self.size = _int_slider("size (px)", i["size"], 32, 512, 16)
        self.steps = _int_slider("steps", i["steps"], 1, 1000)
        boxes = list(self.toggles.values())
        return [self.target, w.HBox(boxes[:3]), w.HBox(boxes[3:]), self.size, self.steps]

    def target_index(self) -> int:
        """Index of the class in the picker (an exact name, or a unique part of one)."""
        from helpers.models import class_index
        return class_index(self.target.value or self.initial["target"], self.categories)

    def _work(self, preview, stop):
        from helpers import transforms as T
        from helpers.optim import gradient_ascent_loop
        target = self.target_index()
        on = {k for k, box in self.toggles.items() if box.value}
        step_fn = self.make_step(target, self.l2_reg if "l2" in on else 0.0)
        shifts = [T.Jitter(self.jitter, generator=torch.Generator().manual_seed(self.seed))] if "jitter" in on else []
        post = self.regularisers(**{k: k in on for k in REGULARISERS})
        size = int(self.size.value)
        start = self._where(torch.zeros(1, 3, size, size))
        out = gradient_ascent_loop(step_fn, start, int(self.steps.value), transforms=shifts, post_step=post,
                                   score_fn=lambda im: self.score(im, target), callbacks=[stop.stop_requested],
                                   preview=preview, preview_every=self.preview_every, progress=False,
                                   desc="class visualisation")
        name = self.categories[target]
        return out.best_image, out, f"{name}: {out.steps_done} steps, best score {out.best_value:.3g}"

