"""Google Colab: the set-up cell every notebook starts with, and the README's "Open in Colab" links.

:data:`REPOSITORY` is the one place that names the course's git repository. An instructor
who publishes the kit elsewhere edits it and runs::

    .venv/bin/python -m instructor colab          # rewrites the first cell of solutions/ and the README links
    .venv/bin/python -m instructor release        # carries the cell into notebooks/

The set-up cell is tagged :data:`TAG`. In Colab it pip-installs the kit from the
repository and turns on Colab's widget manager (the control panels need it); anywhere
else the ``if`` is false and the cell costs nothing.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from instructor.course import repo_root

#: The course's git repository (HTTPS, GitHub): what Colab installs the kit from and opens notebooks from.
REPOSITORY = "https://github.com/your-course/cnn-style-content-kit"
#: The branch the "Open in Colab" links and the install use.
BRANCH = "main"
TAG = "colab-setup"
README_HEADING = "## Open in Colab"

ROOT = repo_root()


def setup_source(repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """Source of the Colab set-up cell."""
    return (
        "# Google Colab only: install the course kit and turn on widgets. Elsewhere this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    KIT_REPOSITORY = "{repository}"  # set in instructor/colab.py\n'
        '    get_ipython().run_line_magic("pip", f"install -q \'cnn-style-content-kit @ '
        f'git+{{KIT_REPOSITORY}}@{branch}\'")\n'
        "    from google.colab import output\n"
        "    output.enable_custom_widget_manager()"
    )


def colab_url(notebook: str | Path, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """Colab's address for ``notebook`` (a path relative to the repository root) on GitHub."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repository)
    if not match:
        raise ValueError(f"Colab opens notebooks from GitHub; REPOSITORY must be https://github.com/OWNER/NAME, "
                         f"got {repository!r}")
    owner, name = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{Path(notebook).as_posix()}"


def has_setup_cell(nb) -> bool:
    """True when the notebook's first cell is the Colab set-up cell."""
    return bool(nb.cells) and TAG in nb.cells[0].get("metadata", {}).get("tags", [])


def put_setup_cell(nb) -> bool:
    """Make the first cell of ``nb`` the current set-up cell (insert or update); True when it changed."""
    import nbformat
    source = setup_source()
    if has_setup_cell(nb):
        if nb.cells[0].source == source:
            return False
        nb.cells[0].source = source
        return True
    nb.cells.insert(0, nbformat.v4.new_code_cell(source, metadata={"tags": [TAG]}))
    return True


def readme_section(notebooks: list[Path]) -> str:
    """The README section: one "Open in Colab" link per student notebook (paths relative to the root)."""
    lines = [README_HEADING, "",
             "Each student notebook opens in Google Colab from the course repository; its first cell",
             "installs the kit there and turns on the widgets. The repository is named once, in",
             "`instructor/colab.py` (`REPOSITORY`): an instructor publishing the kit elsewhere changes it",
             "there and runs `.venv/bin/python -m instructor colab`, then `.venv/bin/python -m instructor release`.",
             ""]
    for path in notebooks:
        lines.append(f"- [{path.parent.name}]({colab_url(path)})")
    return "\n".join(lines) + "\n"


def _student_notebooks(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in (root / "notebooks").glob("[0-9][0-9]_*/*.ipynb"))


def update_readme(text: str, section: str) -> str:
    """Replace the README's "Open in Colab" section (up to the next ``## `` heading) by ``section``."""
    pattern = re.compile(rf"^{re.escape(README_HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if not pattern.search(text):
        raise ValueError(f"README has no {README_HEADING!r} section to update")
    return pattern.sub(lambda _: section + "\n", text, count=1)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the set-up cell of every solution notebook and the README's links from :data:`REPOSITORY`."""
    import nbformat
    root = ROOT
    for path in sorted((root / "solutions").glob("[0-9][0-9]_*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if put_setup_cell(nb):
            nbformat.write(nb, path)
            print(f"updated {path.relative_to(root)}")
    readme = root / "README.md"
    readme.write_text(update_readme(readme.read_text(encoding="utf-8"), readme_section(_student_notebooks(root))),
                      encoding="utf-8")
    print("updated README.md; now run: .venv/bin/python -m instructor release")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
