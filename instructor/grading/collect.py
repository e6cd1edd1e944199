"""Finding the students' notebooks in what the instructor downloaded.

Two layouts are understood:

- **nbgrader's submitted/ layout**: ``SUBMISSIONS/<student>/<topic>/<notebook>.ipynb``
  (what ``nbgrader collect`` writes; a course folder that *contains* ``submitted/`` works
  too). An optional ``timestamp.txt`` next to the notebook is kept.
- **an LMS download** (a folder or a ``.zip``): files anywhere below it whose path matches
  a regular expression with the named groups ``student_id`` and ``file_id`` (and
  optionally ``timestamp``), the convention of nbgrader's ``zip_collect``. The default is
  nbgrader's documented example, for names such as
  ``ps1_bitdiddle_attempt_2016-01-30-15-00-00_style_transfer.ipynb``. ``file_id`` is the
  notebook's name, which tells the topic (every topic's notebook has its own name). When
  a student uploaded a notebook more than once, the newest timestamp wins, as in
  ``zip_collect``. Archives inside the download are extracted by nbgrader's own
  ``ExtractorPlugin``.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGEXP = r".*_(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>\w+)"


@dataclass
class Submission:
    """One student's notebooks for one topic."""

    files: dict[str, Path] = field(default_factory=dict)   # notebook name → file
    timestamp: str | None = None


class CollectError(ValueError):
    """The submissions cannot be read; the message names the file and the fix."""


def notebook_names(release: Path, topics: list[str]) -> dict[str, str]:
    """``{notebook file name: topic}`` of the student release."""
    names: dict[str, str] = {}
    for topic in topics:
        for nb in sorted((release / topic).glob("*.ipynb")):
            if nb.name in names:
                raise CollectError(f"{nb.name} is the notebook of both {names[nb.name]} and {topic}; "
                                   "LMS downloads need a distinct notebook name per topic")
            names[nb.name] = topic
    return names


def collect(source: Path, topics: list[str], release: Path, workdir: Path,
            regexp: str | None = None) -> tuple[dict[str, dict[str, Submission]], list[str]]:
    """Read ``source`` (folder or zip); returns ``({student: {topic: Submission}}, warnings)``."""
    source = Path(source)
    if not source.exists():
        raise CollectError(f"{source} does not exist; pass a submitted/ folder, an LMS download folder or a .zip")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise CollectError(f"{source} is a file but not a zip archive; pass a folder or a .zip download")
        source = _extract(source, workdir)
        regexp = regexp or DEFAULT_REGEXP
    elif (source / "submitted").is_dir() and not regexp:
        source = source / "submitted"
    if not regexp and _looks_submitted(source, topics):
        return _submitted_layout(source, topics), []
    return _lms_layout(source, topics, release, workdir, regexp or DEFAULT_REGEXP)


def _looks_submitted(root: Path, topics: list[str]) -> bool:
    return any((student / topic).is_dir() for student in root.iterdir() if student.is_dir() for topic in topics)


def _check_notebook(path: Path) -> None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CollectError(f"{path} is not a notebook (not JSON: {exc}); remove it or ask the student "
                           "to upload the .ipynb file again") from None


def _submitted_layout(root: Path, topics: list[str]) -> dict[str, dict[str, Submission]]:
    found: dict[str, dict[str, Submission]] = {}
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for topic in topics:
            folder = student_dir / topic
            notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
            if not notebooks:
                continue
            for nb in notebooks:
                _check_notebook(nb)
            stamp = folder / "timestamp.txt"
            found.setdefault(student_dir.name, {})[topic] = Submission(
                {nb.name: nb for nb in notebooks}, stamp.read_text().strip() if stamp.is_file() else None)
    if not found:
        raise CollectError(f"no notebooks under {root}/<student>/<topic>/ for topics {', '.join(topics)}")
    return found


def _extract(archive: Path, workdir: Path) -> Path:
    from nbgrader.plugins.zipcollect import ExtractorPlugin

    inbox, out = workdir / "archive", workdir / "extracted"
    for d in (inbox, out):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    shutil.copy(archive, inbox / archive.name)
    ExtractorPlugin().extract(str(inbox), str(out))
    return out


def _lms_layout(root: Path, topics: list[str], release: Path, workdir: Path,
                regexp: str) -> tuple[dict[str, dict[str, Submission]], list[str]]:
    from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
    from nbgrader.utils import parse_utc

    if any(p.suffix in (".zip", ".gz") for p in root.rglob("*") if p.is_file()):
        root = _extract_folder(root, workdir)
    collector = FileNameCollectorPlugin(named_regexp=regexp)
    names = notebook_names(release, topics)
    warnings: list[str] = []
    chosen: dict[tuple[str, str], tuple[Path, str | None]] = {}
    for path in sorted(p for p in root.rglob("*.ipynb") if p.is_file()):
        info = collector.collect(str(path.resolve()))
        if not info:
            warnings.append(f"skipped {path}: its name does not match {regexp!r}")
            continue
        name = Path(info["file_id"]).name
        name = name if name.endswith(".ipynb") else name + ".ipynb"
        if name not in names:
            warnings.append(f"skipped {path}: {name} is not a notebook of topics {', '.join(topics)}")
            continue
        stamp = info.get("timestamp") or None
        key = (info["student_id"], name)
        if key in chosen:
            old_path, old_stamp = chosen[key]
            if stamp is None or old_stamp is None:
                raise CollectError(f"{old_path} and {path} are both {info['student_id']}'s {name} and carry no "
                                   "timestamp to choose between them; remove one")
            if parse_utc(stamp) < parse_utc(old_stamp):
                warnings.append(f"skipped {path}: {old_path} is newer")
                continue
            warnings.append(f"skipped {old_path}: {path} is newer")
        chosen[key] = (path, stamp)
    found: dict[str, dict[str, Submission]] = {}
    for (student, name), (path, stamp) in sorted(chosen.items()):
        _check_notebook(path)
        sub = found.setdefault(student, {}).setdefault(names[name], Submission())
        sub.files[name] = path
        if stamp and (sub.timestamp is None or parse_utc(stamp) > parse_utc(sub.timestamp)):
            sub.timestamp = str(parse_utc(stamp))
    if not found:
        raise CollectError(f"no submissions found in {root}: no .ipynb file whose name matches {regexp!r} and is "
                           f"a notebook of topics {', '.join(topics)}. Expected nbgrader's submitted/ layout "
                           "(<student>/<topic>/<notebook>.ipynb) or an LMS download; "
                           "give the LMS's naming with --regexp")
    return found, warnings


def _extract_folder(root: Path, workdir: Path) -> Path:
    """Extract archives found in an LMS download folder (copying the other files)."""
    from nbgrader.plugins.zipcollect import ExtractorPlugin

    out = workdir / "extracted"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    ExtractorPlugin().extract(str(root), str(out))
    return out
