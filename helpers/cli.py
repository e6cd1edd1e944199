"""Command line: ``python -m helpers {doctor, weights, demo} …``.

Each subcommand lives in the module that does the work; this file only dispatches,
importing lazily so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "doctor": ("helpers.doctor", "print device, versions, cache paths and which weights are cached"),
    "weights": ("helpers.weights", "manage pretrained weights: `weights prefetch [names…]`, `weights list`"),
    "paintings": ("helpers.samples", "public-domain style paintings: `paintings prefetch [names…]`, `paintings list`"),
    "styles": ("helpers.fast_style", "pretrained fast style-transfer networks: `styles prefetch`, `styles list`"),
    "release": ("helpers.release", "regenerate the student notebooks/ from solutions/ (--check: verify they are in sync)"),
    "grade": ("helpers.grading", "autograde submissions in parallel: grades CSV, feedback, summary table"),
    "demo": ("helpers.demo", "run the solution notebooks headless and write build/demo/index.html"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _usage(sys.stdout)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        sys.stderr.write(f"unknown command {command!r}.\n")
        _usage(sys.stderr)
        return 2
    module = __import__(COMMANDS[command][0], fromlist=["main"])
    return int(module.main(rest) or 0)


def _usage(stream) -> None:
    stream.write("usage: python -m helpers COMMAND [options]\n\ncommands:\n")
    for name, (_, help_text) in COMMANDS.items():
        stream.write(f"  {name:<9} {help_text}\n")
    stream.write("\n`python -m helpers COMMAND --help` shows a command's options.\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
