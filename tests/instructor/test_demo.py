"""`python -m instructor demo` on tiny notebooks: execution, injected parameters, figures, banners.

The notebooks run in real kernels (about two seconds each), so the whole demo runs only
twice: once over three notebooks (one of them failing) and once for a single topic.
"""
from __future__ import annotations

import json
import os

import nbformat
import numpy as np
import pytest
from PIL import Image

from instructor import demo, gallery

v4 = nbformat.v4

FIGURE_CELL = """\
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 6, 200)
plt.plot(x, np.sin(x), x, np.cos(x))
plt.title("two waves")
plt.show()"""


def _notebook(title: str, *body) -> nbformat.NotebookNode:
    """A notebook with a heading, a `parameters` cell, a cell printing the profile, then ``body``."""
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell(f"# {title}\nA test notebook."),
        v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]}),
        v4.new_code_cell("import sys\nprint('profile is', profile)\nprint('python is', sys.executable)"),
        *body,
    ]
    return nb


def _write(root, folder: str, nb) -> None:
    (root / folder).mkdir(parents=True)
    nbformat.write(nb, root / folder / f"{folder.split('_', 1)[1]}.ipynb")


@pytest.fixture(scope="module")
def solutions(tmp_path_factory):
    """Three topics: random weights + a tagged figure; pretrained weights + an untagged figure; an error."""
    root = tmp_path_factory.mktemp("kit") / "solutions"
    _write(root, "01_alpha", _notebook(
        "Alpha: random network",
        v4.new_markdown_cell("## Waves from a random network"),
        v4.new_code_cell("print('not a figure')"),
        v4.new_code_cell(FIGURE_CELL, metadata={"tags": ["figure"], "caption": "Two waves, tagged"}),
        v4.new_code_cell("from helpers.provenance import record\nrecord('vgg19', 'random (seed 0)', True)"),
    ))
    _write(root, "02_beta", _notebook(
        "Beta: pretrained network",
        v4.new_markdown_cell("## Untagged waves"),
        v4.new_code_cell(FIGURE_CELL),
        v4.new_code_cell("from helpers.provenance import record\n"
                         "record('vgg16', 'VGG16_Weights.IMAGENET1K_V1', False)"),
        v4.new_code_cell("from helpers import widgets\n"
                         "widgets.DeepDreamPanel(lambda f, x, s: x, lambda name: None, layers=['a']).show()"),
    ))
    _write(root, "03_broken", _notebook(
        "Broken",
        v4.new_code_cell("raise ValueError('this notebook is broken on purpose')"),
        v4.new_code_cell("print('never reached')"),
    ))
    return root


@pytest.fixture(scope="module")
def full_run(solutions):
    out = solutions.parent / "out"
    code = demo.main(["--solutions", str(solutions), "--out", str(out), "--profile", "smoke"])
    return code, out, json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def single_run(solutions):
    """One topic, with relative paths as `make demo` passes them."""
    before = os.getcwd()
    os.chdir(solutions.parent)
    try:
        code = demo.main(["--solutions", "solutions", "--out", "out-single", "--profile", "smoke",
                          "--topic", "2"])
    finally:
        os.chdir(before)
    out = solutions.parent / "out-single"
    return code, out, json.loads((out / "summary.json").read_text())


def _page(out, name: str) -> str:
    return (out / f"{name}.html").read_text(encoding="utf-8")


def test_index_links_every_notebook_page(full_run):
    _, out, summary = full_run
    index = (out / "index.html").read_text(encoding="utf-8")
    for name in ("01_alpha", "02_beta", "03_broken"):
        assert f'href="{name}.html"' in index
        assert (out / f"{name}.html").is_file()
    assert [n["title"] for n in summary["notebooks"]] == ["Alpha: random network", "Beta: pretrained network", "Broken"]
    assert summary["profile"]["name"] == "smoke" and summary["device"] == "cpu"
    assert all(n["seconds"] > 0 for n in summary["notebooks"])


def test_a_failing_notebook_fails_the_run_but_not_the_others(full_run):
    code, out, summary = full_run
    assert code == 1
    status = {n["name"]: n["status"] for n in summary["notebooks"]}
    assert status == {"01_alpha": "ok", "02_beta": "ok", "03_broken": "failed"}
    broken = summary["notebooks"][2]
    assert broken["error"] == "ValueError: this notebook is broken on purpose"
    page = _page(out, "03_broken")
    assert "This notebook failed" in page and "broken on purpose" in page
    assert "this notebook is broken on purpose" in (out / "index.html").read_text(encoding="utf-8")


def test_parameters_reach_the_kernel_of_this_interpreter(full_run):
    import sys

    _, out, _ = full_run
    page = _page(out, "01_alpha")
    assert "profile is smoke" in page
    assert f"python is {sys.executable}" in page
    assert "Parameters injected by" in page


def test_control_panels_print_one_line_in_the_demo(full_run):
    _, out, _ = full_run
    assert "DeepDream: needs a live notebook" in _page(out, "02_beta")


def test_key_figures_are_real_pngs_with_captions(full_run):
    _, out, summary = full_run
    alpha, beta = summary["notebooks"][0], summary["notebooks"][1]
    assert [f["caption"] for f in alpha["figures"]] == ["Two waves, tagged"]
    assert [f["caption"] for f in beta["figures"]] == ["Untagged waves"]
    for fig in alpha["figures"] + beta["figures"]:
        with Image.open(out / fig["path"]) as image:
            assert image.format == "PNG"
            pixels = np.asarray(image.convert("RGB"))
        assert pixels.shape[0] > 50 and pixels.shape[1] > 50
        assert pixels.std() > 5, "the figure is blank"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'src="figures/01_alpha-01.png"' in index


def test_random_weights_banner_iff_provenance_says_random(full_run):
    _, out, summary = full_run
    banner = "RANDOM WEIGHTS: pretrained ImageNet weights were not available"
    assert summary["random_weights"] is True
    assert banner in (out / "index.html").read_text(encoding="utf-8")
    assert banner in _page(out, "01_alpha")
    assert banner not in _page(out, "02_beta")
    assert [n["random_weights"] for n in summary["notebooks"]] == [True, False, False]
    assert summary["notebooks"][1]["weights"] == [
        {"model": "vgg16", "weights": "VGG16_Weights.IMAGENET1K_V1", "random": False, "note": ""}]


def test_topic_selects_one_notebook(single_run):
    code, out, summary = single_run
    assert code == 0
    assert [n["name"] for n in summary["notebooks"]] == ["02_beta"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="02_beta.html"' in index and "01_alpha.html" not in index
    assert "RANDOM WEIGHTS" not in index and summary["random_weights"] is False
    assert summary["notebooks"][0]["weights"][0]["model"] == "vgg16", "the provenance file was not found"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty weights cache, and downloads refused at once (a closed port on loopback)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_without_weights_the_demo_falls_back_or_fails_with_the_fix(offline, tmp_path, capsys):
    root = tmp_path / "solutions"
    _write(root, "05_real", _notebook("Real loader", v4.new_code_cell(
        "from helpers.models import load_model\nprint(load_model('squeezenet1_1').weights_label)")))
    args = ["--solutions", str(root), "--out", str(tmp_path / "out"), "--profile", "smoke"]

    assert demo.main(args) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["random_weights"] is True
    assert summary["notebooks"][0]["weights"][0]["weights"] == "random (seed 0)"
    assert "RANDOM WEIGHTS" in _page(tmp_path / "out", "05_real")
    assert gallery.RANDOM_WEIGHTS_BANNER in capsys.readouterr().out

    assert demo.main(args + ["--require-weights"]) == 1
    printed = capsys.readouterr().out
    assert "WeightsUnavailableError" in printed
    assert "--require-weights is set" in printed and "python -m helpers download weights" in printed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["notebooks"][0]["status"] == "failed" and summary["random_weights"] is False


# ----------------------------------------------------------------------------- no kernel needed

def test_no_notebooks_writes_a_gallery_that_says_so(tmp_path):
    (tmp_path / "solutions").mkdir()
    code = demo.main(["--solutions", str(tmp_path / "solutions"), "--out", str(tmp_path / "out"),
                      "--profile", "smoke"])
    assert code == 0
    assert "No solution notebooks found" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["notebooks"] == []


def test_unknown_topic_is_an_error_listing_the_topics(solutions, tmp_path, capsys):
    code = demo.main(["--solutions", str(solutions), "--out", str(tmp_path), "--topic", "09"])
    assert code == 2
    assert "01_alpha, 02_beta, 03_broken" in capsys.readouterr().err


def test_find_notebooks_matches_numbers_and_names(solutions):
    def names(topics):
        return [name for name, _ in demo.find_notebooks(solutions, topics)]

    assert names(None) == ["01_alpha", "02_beta", "03_broken"]
    assert names(["3"]) == names(["03_broken"]) == ["03_broken"]
    assert names(["01,02"]) == ["01_alpha", "02_beta"]


def test_parameters_are_injected_after_the_parameters_cell():
    nb = _notebook("t")
    demo.inject_parameters(nb, {"profile": "smoke", "steps": 3})
    demo.inject_parameters(nb, {"profile": "cpu"})  # a second injection replaces the first
    injected = [i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected == [2]
    assert nb.cells[2].source.splitlines()[1:] == ["profile = 'cpu'"]

    bare = v4.new_notebook(cells=[v4.new_code_cell("x = 1")])
    demo.inject_parameters(bare, {"profile": "gpu"})
    assert "profile = 'gpu'" in bare.cells[0].source


def test_kernel_environment(monkeypatch):
    monkeypatch.setenv("KIT_ALLOW_RANDOM_WEIGHTS", "1")
    strict = demo.kernel_env("cpu", require_weights=True)
    assert strict["KIT_REQUIRE_WEIGHTS"] == "1" and "KIT_ALLOW_RANDOM_WEIGHTS" not in strict
    lenient = demo.kernel_env("smoke", require_weights=False)
    assert lenient["KIT_ALLOW_RANDOM_WEIGHTS"] == "1" and lenient["KIT_PROFILE"] == "smoke"
    assert "inline" in lenient["MPLBACKEND"]
    assert lenient["KIT_WIDGETS"] == "0", "control panels print one line instead of waiting for a person"


def test_require_weights_flag_and_env(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(demo, "kernel_env", lambda profile, require: seen.setdefault("require", require) or {})
    args = ["--solutions", str(tmp_path), "--out", str(tmp_path / "out"), "--profile", "smoke"]
    demo.main(args + ["--require-weights"])
    assert seen.pop("require") is True
    monkeypatch.setenv("KIT_REQUIRE_WEIGHTS", "1")
    demo.main(args)
    assert seen.pop("require") is True


def test_parse_param():
    assert demo._parse_param("steps=3") == ("steps", 3)
    assert demo._parse_param("style=starry_night") == ("style", "starry_night")
    with pytest.raises(ValueError):
        demo._parse_param("no equals sign")


def test_gallery_contents_wide_figures_and_weights_text():
    import io as _io

    buf = _io.BytesIO()
    Image.fromarray(np.zeros((100, 400, 3), np.uint8)).save(buf, format="PNG")
    assert gallery._png_size(buf.getvalue()) == (400, 100)
    assert gallery._png_size(b"not a png") == (0, 0)
    assert [gallery.Figure("a", "", w, h).span for w, h in [(400, 100), (500, 250), (300, 300), (0, 0)]] == [3, 2, 1, 1]
    results = [
        gallery.NotebookResult(name="07_style", source="s/07.ipynb", title="07 · Style", page="07_style.html",
                               seconds=75.0, weights=[{"model": "vgg19", "weights": "random (seed 0)", "random": True}],
                               figures=[gallery.Figure("figures/a.png", "Transfer", 400, 100)]),
        gallery.NotebookResult(name="01_recap", source="s/01.ipynb", title="01 · Recap", page="01_recap.html",
                               seconds=3.0, error="ValueError: no"),
    ]
    run = {"device": "cpu", "device_name": "cpu", "generated": "now", "versions": {"python": "3"}, "seconds": 78.0,
           "solutions": "solutions", "profile": {"name": "smoke", "description": "tiny", "image_size": 64,
                                                 "iterations": 10, "precision": "float32"}}
    page = gallery.index_html(results, run)
    toc = page.split('<table class="kit-toc">')[1].split("</table>")[0]
    assert '<a href="#07_style">07 · Style</a></td><td>ok</td><td class="kit-num">1 min 15 s</td>' in toc
    assert "<td>random</td>" in toc and "failed" in toc and "none loaded" in toc
    assert '<figure class="kit-span3">' in page and "make demo" in page
    assert gallery.weights_text([{"model": "toynet", "weights": "toynet trained (seed 0)", "random": False}]) == \
        "toynet: trained (seed 0)"
