"""``python -m instructor release``: regenerate the student notebooks from the solutions.

    python -m instructor release [TOPIC …]          write notebooks/NN_topic/ from solutions/NN_topic/
    python -m instructor release --check [TOPIC …]  exit 1 when notebooks/ differs from what it would write
    python -m instructor release --bundle           also write the student zip dist/<name>-student.zip
                                                    (``instructor.bundle``; --dist DIR to write elsewhere)

Both modes then run ``instructor.leakcheck`` on the written (or committed) notebooks and
exit 1 when a given cell computes a graded function.

First the Colab set-up cell of every solution notebook is rewritten from ``course.toml``
(``instructor.colab``; ``--check`` only reports a stale one). Generation is nbgrader's
``generate_assignment`` (answers replaced by stubs, hidden tests removed), run in a
temporary course so no gradebook lands in the repository.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from instructor.coursedir import RELEASE, REPO, SOLUTIONS, Course, resolve_topics


def generate(topic: str, workdir: Path, solutions: Path = SOLUTIONS) -> Path:
    """Generate ``topic``'s student release under ``workdir``; returns its folder."""
    course = Course(workdir)
    course.add_source(topic, solutions)
    return course.generate(topic)


def _normalised(path: Path) -> dict:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        cell.pop("id", None)
    return nb


def differences(generated: Path, committed: Path) -> list[str]:
    """Files of one topic that differ between a fresh release and the committed one."""
    problems = []
    names = {p.relative_to(generated) for p in generated.rglob("*") if p.is_file()}
    names |= {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()} if committed.exists() else set()
    for rel in sorted(names):
        a, b = generated / rel, committed / rel
        if not b.exists():
            problems.append(f"{committed / rel} is missing")
        elif not a.exists():
            problems.append(f"{b} is not produced by the solutions (stale file)")
        elif rel.suffix == ".ipynb":
            if _normalised(a) != _normalised(b):
                problems.append(f"{b} differs from its solution notebook")
        elif a.read_bytes() != b.read_bytes():
            problems.append(f"{b} differs from its solution folder")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor release", description=__doc__.split("\n\n")[0])
    parser.add_argument("topics", nargs="*", help="topic numbers or names (default: all)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when out of date")
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS)
    parser.add_argument("--out", type=Path, default=RELEASE, help="release folder (default: notebooks/)")
    parser.add_argument("--bundle", action="store_true",
                        help="after regenerating, write the student zip "
                             "(notebooks/, helpers/, data/, packaging, README)")
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="where --bundle writes (default: dist/)")
    args = parser.parse_args(argv)
    if args.bundle and (args.check or args.out.resolve() != RELEASE.resolve()):
        print("error: --bundle packs the repository's notebooks/; it cannot be combined with --check or --out",
              file=sys.stderr)
        return 2
    try:
        selected = resolve_topics(args.topics, args.solutions)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from instructor import colab

    try:
        unsynced = colab.sync_solutions(write=not args.check) if args.solutions.resolve() == SOLUTIONS.resolve() else []
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [f"{path}: its Colab set-up cell does not match {colab.SETTINGS_FILE}" for path in unsynced] \
        if args.check else []
    for path in unsynced if not args.check else []:
        print(f"{path.parent.name}: set-up cell rewritten from {colab.SETTINGS_FILE}")
    with tempfile.TemporaryDirectory(prefix="kit-release-") as tmp:
        for topic in selected:
            fresh = generate(topic, Path(tmp), args.solutions)
            target = args.out / topic
            if args.check:
                problems = differences(fresh, target)
                stale += problems
                print(f"{topic}: " + ("up to date" if not problems else "OUT OF DATE"))
            else:
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(fresh, target)
                print(f"{topic}: wrote {target}")
    if stale:
        print("\n".join(stale), file=sys.stderr)
        print("Regenerate with `python -m instructor release` and commit notebooks/.", file=sys.stderr)
        return 1
    from instructor.leakcheck import check as leak_check

    findings = leak_check(selected, args.solutions, args.out, log=lambda *_: None)
    for leak in findings.leaks:
        print(f"LEAK {leak}", file=sys.stderr)
    print(f"leak check: {findings.candidates} given functions against every graded function, "
          f"{len(findings.leaks)} leaks")
    if findings.leaks:
        return 1
    if args.bundle:
        from instructor.bundle import build_and_report

        return build_and_report(args.dist, args.solutions)
    return 0
