"""The Colab set-up cell of every notebook and the README's "Open in Colab" links, from one repository URL."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import nbformat
import pytest

from instructor import colab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(ROOT.glob("solutions/[0-9][0-9]_*/*.ipynb")) + sorted(ROOT.glob("notebooks/[0-9][0-9]_*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_notebook_starts_with_the_current_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert colab.has_setup_cell(nb), f"{path.name}: the first cell is not the Colab set-up cell"
    assert nb.cells[0].source == colab.setup_source(), "run `python -m instructor colab`, then `python -m instructor release`"


def test_readme_links_every_student_notebook_from_the_repository():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = colab.readme_section(colab._student_notebooks(ROOT))
    assert section in text, "README's 'Open in Colab' section is stale: run `python -m instructor colab`"
    students = sorted(ROOT.glob("notebooks/[0-9][0-9]_*/*.ipynb"))
    assert students and all(colab.colab_url(p.relative_to(ROOT)) in text for p in students)


def _run_cell(monkeypatch, in_colab):
    calls = []
    shell = types.SimpleNamespace(run_line_magic=lambda *args: calls.append(("magic",) + args))
    if in_colab:
        output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(("widgets",)))
        google = types.ModuleType("google")
        google.colab = types.ModuleType("google.colab")
        google.colab.output = output
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(colab.setup_source(), {"get_ipython": lambda: shell})
    return calls


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_cell(monkeypatch, in_colab=False) == []


def test_setup_cell_installs_the_kit_and_turns_on_widgets_in_colab(monkeypatch):
    calls = _run_cell(monkeypatch, in_colab=True)
    assert calls[0][:2] == ("magic", "pip")
    assert f"cnn-style-content-kit @ git+{colab.REPOSITORY}@{colab.BRANCH}" in calls[0][2]
    assert calls[1] == ("widgets",)


def test_put_setup_cell_inserts_once_and_updates():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title")])
    assert colab.put_setup_cell(nb) and not colab.put_setup_cell(nb)
    assert len(nb.cells) == 2 and colab.has_setup_cell(nb)
    nb.cells[0].source = "old"
    assert colab.put_setup_cell(nb) and nb.cells[0].source == colab.setup_source() and len(nb.cells) == 2


def test_update_readme_replaces_only_its_section():
    text = "# Kit\n\n## Open in Colab\n\nold links\n\n## Instructor guide\n\nkeep me\n"
    out = colab.update_readme(text, "## Open in Colab\n\nnew links\n")
    assert out == "# Kit\n\n## Open in Colab\n\nnew links\n\n## Instructor guide\n\nkeep me\n"
    with pytest.raises(ValueError):
        colab.update_readme("# Kit\n", "x")


def test_colab_opens_notebooks_from_github_only():
    assert colab.colab_url("notebooks/a/b.ipynb", "https://github.com/o/r.git", "dev") == \
        "https://colab.research.google.com/github/o/r/blob/dev/notebooks/a/b.ipynb"
    with pytest.raises(ValueError, match="GitHub"):
        colab.colab_url("x.ipynb", "https://gitlab.com/o/r")
