"""Command line: ``python -m helpers {doctor, weights, paintings, styles} …``.

The student commands only. Course operations (release, grading, the demo gallery …) live
in the repository's ``instructor`` package; naming one here says where it went.
Each subcommand lives in the module that does the work; this file only dispatches,
importing lazily so ``--help`` stays fast.
"""
from __future__ import annotations

import sys

COMMANDS = {
    "doctor": ("helpers.doctor", "print device, versions, cache paths and which weights are cached"),
    "weights": ("helpers.weights", "manage pretrained weights: `weights prefetch [names…]`, `weights list`"),
    "paintings": ("helpers.samples", "public-domain style paintings: `paintings prefetch [names…]`, `paintings list`"),
    "styles": ("helpers.fast_style", "pretrained fast style-transfer networks: `styles prefetch`, `styles list`"),
}
#: Commands that moved to the course repository's ``python -m instructor``.
INSTRUCTOR_COMMANDS = ("release", "bundle", "grade", "demo", "colab", "selfcheck", "check-weights")


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a command's ``main``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _usage(sys.stdout)
        return 0
    command, rest = argv[0], argv[1:]
    if command in INSTRUCTOR_COMMANDS:
        sys.stderr.write(f"`{command}` is a course operation: use `python -m instructor {command}` "
                         "in the course repository.\n")
        return 2
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
