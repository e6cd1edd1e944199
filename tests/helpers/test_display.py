"""Figures: axes counts, the random-weights mark when (and only when) provenance says so,
saving, PNG encoding and a live preview that never fails headless."""
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import provenance  # noqa: E402
from helpers.display import (  # noqa: E402
    LivePreview,
    has_random_weights_mark,
    plot_losses,
    png_bytes,
    resolve_preview,
    save_figure,
    show_grid,
    show_image,
)
from helpers.optim import optimize_image  # noqa: E402


@pytest.fixture(autouse=True)
def clean_state():
    provenance.clear()
    yield
    provenance.clear()
    plt.close("all")


@pytest.fixture
def random_weights():
    provenance.record("toy", "random (seed 0)", random=True)
    assert provenance.random_weights_used()


def mark_texts(fig):
    return [t for t in fig.texts if t.get_text() == provenance.RANDOM_WEIGHTS_MARK]


def image(seed=0, size=(3, 8, 10)):
    return torch.rand(*size, generator=torch.Generator().manual_seed(seed))


def test_show_image_without_random_weights_has_no_mark():
    fig = show_image(image(), title="cat")
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "cat"
    assert mark_texts(fig) == [] and not has_random_weights_mark(fig)


def test_show_image_with_random_weights_is_marked_in_red(random_weights):
    fig = show_image(image().unsqueeze(0))
    (mark,) = mark_texts(fig)
    assert matplotlib.colors.same_color(mark.get_color(), "red")
    assert mark.get_visible()


def test_mark_follows_provenance_per_figure(random_weights):
    assert mark_texts(show_grid([image(0), image(1)]))
    provenance.clear()
    assert not mark_texts(show_grid([image(0), image(1)]))


def test_show_image_on_given_axes_marks_that_figure_once(random_weights):
    fig, axes = plt.subplots(1, 2)
    show_image(image(0), ax=axes[0])
    show_image(image(1), ax=axes[1])
    assert len(mark_texts(fig)) == 1
    assert len(fig.axes) == 2


def test_show_grid_axes_count_and_titles():
    batch = torch.rand(5, 3, 6, 6)
    fig = show_grid(batch, titles=list("abcde"), ncols=3, suptitle="five")
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    assert fig.get_suptitle() == "five"
    fig2 = show_grid([image(0), image(1).unsqueeze(0), np.zeros((8, 10, 3))])
    assert len(fig2.axes) == 3
    with pytest.raises(ValueError, match="titles"):
        show_grid(batch, titles=["only one"])


def test_plot_losses_from_history_and_result(random_weights):
    history = {"content": [4.0, 2.0, 1.0], "style": [3.0, 1.0, 0.5], "total": [7.0, 3.0, 1.5]}
    fig = plot_losses(history)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.get_lines()) == 3 and ax.get_yscale() == "log"
    assert mark_texts(fig)
    assert plot_losses({"score": [-1.0, 0.5]}).axes[0].get_yscale() == "symlog"
    assert plot_losses(history, log=False).axes[0].get_yscale() == "linear"

    target = torch.rand(1, 3, 8, 8)
    res = optimize_image(lambda size: (lambda x: ((x - 0.3) ** 2).sum()), target, steps=2,
                         schedule=[4, 8], optimizer="adam", progress=False)
    ax = plot_losses(res).axes[0]
    assert len(ax.get_lines()) == 1 + 1  # the total, plus one line where the second size starts


def test_save_figure_writes_png_and_marks(tmp_path, random_weights):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert not mark_texts(fig)
    path = save_figure(fig, tmp_path / "sub" / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(mark_texts(fig)) == 1


def test_png_bytes_lays_a_batch_side_by_side():
    data = png_bytes(torch.rand(3, 3, 5, 7))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = matplotlib.image.imread(io.BytesIO(data))
    assert decoded.shape[:2] == (5, 21)


def test_live_preview_headless_never_fails(capsys):
    quiet = LivePreview()
    assert not quiet.enabled
    quiet.update(torch.rand(1, 3, 4, 4), step=1, losses={"total": 1.0})
    quiet.close()
    assert quiet.updates == 1 and capsys.readouterr().out == ""

    chatty = LivePreview(title="dream", fallback="print")
    chatty.update(torch.rand(1, 3, 4, 4), step=7, losses={"total": 0.25})
    out = capsys.readouterr().out
    assert "dream" in out and "step 7" in out and "0.25" in out


def test_resolve_preview_maps_the_loop_argument_to_what_it_updates():
    assert resolve_preview(None) is None and resolve_preview(False) is None
    assert isinstance(resolve_preview(True), LivePreview)
    mine = LivePreview(title="mine")
    assert resolve_preview(mine) is mine
    with pytest.raises(TypeError, match="LivePreview"):
        resolve_preview("yes")


def test_show_rows_draws_images_and_maps_and_marks_only_when_due():
    import torch

    from helpers import display, provenance
    provenance.clear()
    provenance.record("vgg19", "random (seed 0)", random=True)
    rows = [[torch.rand(3, 8, 8), torch.rand(3, 8, 8)], [torch.rand(8, 8)]]
    fig = display.show_rows(rows, ["images", "maps"], col_titles=["a", "b"], suptitle="grid")
    assert len([ax for ax in fig.axes if ax.images]) == 3
    assert display.has_random_weights_mark(fig)
    trained_only = display.show_rows(rows, random_weights=False)
    assert not display.has_random_weights_mark(trained_only)
    import matplotlib.pyplot as plt
    plt.close(fig)
    plt.close(trained_only)
    provenance.clear()


def test_show_grid_takes_an_explicit_random_weights_flag():
    import matplotlib.pyplot as plt
    import torch

    from helpers import display, provenance
    provenance.clear()
    provenance.record("vgg19", "random (seed 0)", random=True)
    fig = display.show_grid([torch.rand(3, 4, 4)] * 2, random_weights=False)
    assert not display.has_random_weights_mark(fig)
    plt.close(fig)
    provenance.clear()
    fig = display.show_grid([torch.rand(3, 4, 4)], random_weights=True)
    assert display.has_random_weights_mark(fig)
    plt.close(fig)
