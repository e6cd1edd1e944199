"""Google Colab: the set-up cell of every notebook and the README's "Open in Colab" links.

The course's repository is one setting, ``[colab] repository`` in ``course.toml`` at the
repository root. ``python -m instructor release`` writes it into the set-up cell of every
solution notebook before generating the student notebooks; ``python -m instructor colab``
does the same and also rewrites the README's links::

    # course.toml:  repository = "https://github.com/OWNER/NAME"
    .venv/bin/python -m instructor colab          # set-up cells of solutions/ and the README links
    .venv/bin/python -m instructor release        # set-up cells again, then notebooks/

The set-up cell is tagged :data:`TAG` and comes right after the notebook's title cell. In
Colab it pip-installs the kit from the repository and turns on Colab's widget manager
(the control panels need it); with no repository set it stops with a message that says
so; anywhere else the ``if`` is false and the cell costs nothing.
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from instructor.course import repo_root

TAG = "colab-setup"
README_HEADING = "## Open in Colab"
SETTINGS_FILE = "course.toml"

ROOT = repo_root()


def settings(root: Path = ROOT) -> tuple[str, str]:
    """``(repository, branch)`` from ``course.toml`` (repository ``""`` when unset).

    Raises:
        ValueError: the file is missing or unreadable, or the repository is not a GitHub address.
    """
    path = root / SETTINGS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the course settings {path}: {exc}; it needs a [colab] table with "
                         "repository = \"https://github.com/OWNER/NAME\" (or \"\") and branch = \"main\"") from None
    table = data.get("colab", {})
    repository, branch = str(table.get("repository", "")).strip(), str(table.get("branch", "main")).strip()
    if repository:
        colab_url("x.ipynb", repository, branch)      # raises for an address Colab cannot open
    return repository, branch or "main"


UNSET_MESSAGE = ("This notebook was released without the course's repository address, so Colab cannot "
                 "install the course kit. Ask your instructor for the Colab link, or set KIT_REPOSITORY "
                 "in this cell to the course's https://github.com/OWNER/NAME address.")


def _raise_lines(message: str, indent: int, width: int = 84) -> str:
    """``raise RuntimeError("…" "…")`` over several lines of at most ``width`` characters of text."""
    import textwrap

    pad = " " * indent
    first = f"{pad}raise RuntimeError("
    chunks = textwrap.wrap(message, width - len(first), drop_whitespace=False)
    cont = " " * len(first)
    lines = [f'{first if i == 0 else cont}"{chunk}"' for i, chunk in enumerate(chunks)]
    return "\n".join(lines) + ")\n"


def setup_source(repository: str | None = None, branch: str | None = None) -> str:
    """Source of the Colab set-up cell (default: the settings of ``course.toml``)."""
    if repository is None or branch is None:
        configured = settings()
        repository = configured[0] if repository is None else repository
        branch = configured[1] if branch is None else branch
    return (
        "# Google Colab only: install the course kit and turn on widgets. Elsewhere this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    KIT_REPOSITORY = "{repository}"  # course.toml, written by `make release`\n'
        "    if not KIT_REPOSITORY:\n"
        + _raise_lines(UNSET_MESSAGE, indent=8) +
        '    get_ipython().run_line_magic("pip", f"install -q \'cnn-style-content-kit @ '
        f'git+{{KIT_REPOSITORY}}@{branch}\'")\n'
        "    from google.colab import output\n"
        "    output.enable_custom_widget_manager()"
    )


def colab_url(notebook: str | Path, repository: str, branch: str = "main") -> str:
    """Colab's address for ``notebook`` (a path relative to the repository root) on GitHub."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repository)
    if not match:
        raise ValueError(f"Colab opens notebooks from GitHub; [colab] repository in {SETTINGS_FILE} must be "
                         f"https://github.com/OWNER/NAME, got {repository!r}")
    owner, name = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{Path(notebook).as_posix()}"


def setup_index(nb) -> int | None:
    """Index of the set-up cell (tagged :data:`TAG`), or None."""
    return next((i for i, cell in enumerate(nb.cells) if TAG in cell.get("metadata", {}).get("tags", [])), None)


def has_setup_cell(nb) -> bool:
    """True when the set-up cell comes right after the title cell (the notebook's first cell)."""
    return setup_index(nb) == 1 and nb.cells[0].cell_type == "markdown"


def put_setup_cell(nb, source: str | None = None) -> bool:
    """Make the cell after the title the current set-up cell (insert, move or update); True when it changed."""
    import nbformat

    source = setup_source() if source is None else source
    index = setup_index(nb)
    if index == 1 and nb.cells[1].source == source:
        return False
    cell = nb.cells.pop(index) if index is not None else nbformat.v4.new_code_cell(metadata={"tags": [TAG]})
    cell.source = source
    nb.cells.insert(1, cell)
    return True


def sync_solutions(root: Path = ROOT, write: bool = True) -> list[Path]:
    """Solution notebooks whose set-up cell differs from ``course.toml`` (rewritten when ``write``)."""
    import nbformat

    source = setup_source(*settings(root))
    stale = []
    for path in sorted((root / "solutions").glob("[0-9][0-9]_*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if put_setup_cell(nb, source):
            stale.append(path)
            if write:
                nbformat.write(nb, path)
    return stale


def readme_section(notebooks: list[Path], repository: str | None = None, branch: str | None = None) -> str:
    """The README section: one "Open in Colab" link per student notebook (paths relative to the root)."""
    if repository is None or branch is None:
        repository, branch = settings()
    lines = [README_HEADING, "",
             "Each student notebook opens in Google Colab from the course repository; its set-up cell",
             "(right after the title) installs the kit there and turns on the widgets. The repository is",
             f"one setting, `[colab] repository` in `{SETTINGS_FILE}`; after changing it run",
             "`.venv/bin/python -m instructor colab` (README links), then `make release`.",
             ""]
    if not repository:
        lines.append(f"*No repository is set in `{SETTINGS_FILE}` yet, so there are no Colab links; the notebooks' "
                     "set-up cell says so when run in Colab.*")
    for path in notebooks:
        if repository:
            lines.append(f"- [{path.parent.name}]({colab_url(path, repository, branch)})")
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
    """Rewrite the set-up cell of every solution notebook and the README's links from ``course.toml``."""
    root = ROOT
    try:
        stale = sync_solutions(root)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"updated {path.relative_to(root)}")
    readme = root / "README.md"
    readme.write_text(update_readme(readme.read_text(encoding="utf-8"), readme_section(_student_notebooks(root))),
                      encoding="utf-8")
    print("updated README.md; now run: make release")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
