"""The first screen of every notebook (title, Colab set-up cell, weights note) and the README's Colab links.

The repository address is one course setting (``course.toml``); the set-up cell and the links come from it.
"""
from __future__ import annotations

import sys
import types

import nbformat
import pytest

from instructor import colab
from instructor.course import repo_root

ROOT = repo_root()
NOTEBOOKS = sorted(ROOT.glob("solutions/[0-9][0-9]_*/*.ipynb")) + sorted(ROOT.glob("notebooks/[0-9][0-9]_*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_notebook_starts_with_its_title_then_the_current_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    title = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and title.startswith("# ") and "**What you will do.**" in title
    assert len(title.split("**What you will do.**", 1)[1].strip()) < 300, "two lines, not the whole introduction"
    assert colab.has_setup_cell(nb), f"{path.name}: the second cell is not the Colab set-up cell"
    assert nb.cells[1].source == colab.setup_source(), "run `make release` (it writes course.toml's repository)"


def _weights_note(path):
    nb = nbformat.read(path, as_version=4)
    notes = [i for i, c in enumerate(nb.cells) if "weights-note" in c.get("metadata", {}).get("tags", [])]
    assert len(notes) == 1, f"{path.name}: one weights note"
    assert "parameters" in nb.cells[notes[0] - 1].get("metadata", {}).get("tags", []), "the note follows the parameters"
    return nb.cells[notes[0]].source


def test_one_identical_no_weights_note_after_the_parameters():
    notes = {_weights_note(path) for path in NOTEBOOKS}
    assert len(notes) == 1
    assert 'weights = "random"' in notes.pop()


def test_no_notebook_sets_threads_itself():
    for path in NOTEBOOKS:
        assert "set_num_threads" not in path.read_text(encoding="utf-8"), path.name


def _run_cell(monkeypatch, in_colab, source=None):
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
    exec(source or colab.setup_source("https://github.com/o/r", "main"), {"get_ipython": lambda: shell})
    return calls


def test_readme_section_matches_the_setting():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert colab.readme_section(colab._student_notebooks(ROOT)) in text, "stale: run `python -m instructor colab`"
    students = [p.relative_to(ROOT) for p in sorted(ROOT.glob("notebooks/[0-9][0-9]_*/*.ipynb"))]
    section = colab.readme_section(students, "https://github.com/o/r", "main")
    assert all(colab.colab_url(p, "https://github.com/o/r") in section for p in students)
    assert "no Colab links" in colab.readme_section(students, "", "main")


def test_settings_are_read_from_course_toml(tmp_path):
    (tmp_path / "course.toml").write_text('[colab]\nrepository = "https://github.com/o/r"\nbranch = "dev"\n')
    assert colab.settings(tmp_path) == ("https://github.com/o/r", "dev")
    (tmp_path / "course.toml").write_text('[colab]\nrepository = "https://gitlab.com/o/r"\n')
    with pytest.raises(ValueError, match="GitHub"):
        colab.settings(tmp_path)
    (tmp_path / "course.toml").unlink()
    with pytest.raises(ValueError, match="course.toml"):
        colab.settings(tmp_path)


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_cell(monkeypatch, in_colab=False) == []


def test_setup_cell_installs_the_kit_and_turns_on_widgets_in_colab(monkeypatch):
    calls = _run_cell(monkeypatch, in_colab=True)
    assert calls[0][:2] == ("magic", "pip")
    assert "cnn-style-content-kit @ git+https://github.com/o/r@main" in calls[0][2]
    assert calls[1] == ("widgets",)


def test_setup_cell_without_a_repository_stops_with_a_message_in_colab(monkeypatch):
    with pytest.raises(RuntimeError, match="without the course's repository address"):
        _run_cell(monkeypatch, in_colab=True, source=colab.setup_source("", "main"))
    assert _run_cell(monkeypatch, in_colab=False, source=colab.setup_source("", "main")) == []


def test_put_setup_cell_inserts_after_the_title_moves_and_updates():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("x")])
    assert colab.put_setup_cell(nb, "setup") and not colab.put_setup_cell(nb, "setup")
    assert len(nb.cells) == 3 and colab.has_setup_cell(nb) and nb.cells[1].source == "setup"
    nb.cells.insert(0, nb.cells.pop(1))                 # the old layout: set-up cell first
    assert not colab.has_setup_cell(nb)
    assert colab.put_setup_cell(nb, "new") and nb.cells[0].source == "# title" and nb.cells[1].source == "new"
    assert len(nb.cells) == 3


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
