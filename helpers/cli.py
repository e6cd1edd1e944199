"""Command line: ``python -m helpers {doctor, download, weights, paintings, styles} …``.

The student commands only. Course operations (release, grading, the demo gallery …) live
in the repository's ``instructor`` package; naming one here says where it went.
Each subcommand lives in the module that does the work; this file only dispatches,
importing lazily so ``--help`` stays fast. ``download`` fetches everything the kit caches
(:mod:`helpers.prefetch`); ``weights``, ``paintings`` and ``styles`` are its older names,
kept as aliases.
"""
from __future__ import annotations

import sys

#: Every command ``main`` dispatches: ``{name: (module whose main(argv) runs it, or "module:function",
#: one-line help)}``.
#: The usage text is made from this table, so it names exactly the commands that run.
COMMANDS = {
    "doctor": ("helpers.doctor", "device, versions, cache paths, cached weights, environment: "
                                 "`doctor [--verify]`"),
    "download": ("helpers.prefetch", "fill the caches for offline work: "
                                     "`download {paintings,styles,weights,all} [names…] [--list]`"),
    "weights": ("helpers.prefetch:weights_alias", "alias of `download weights`: `weights prefetch [names…|all]`, "
                                                  "`weights list [--verify]`"),
    "paintings": ("helpers.prefetch:paintings_alias", "alias of `download paintings`: "
                                                      "`paintings prefetch [names…]`, `paintings list`"),
    "styles": ("helpers.prefetch:styles_alias", "alias of `download styles`: `styles prefetch [--url URL]`, "
                                                "`styles list`"),
}
#: Commands that moved to the course repository's ``python -m instructor``.
INSTRUCTOR_COMMANDS = ("release", "bundle", "grade", "demo", "colab", "selfcheck", "check-weights")


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a command's ``main``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in INSTRUCTOR_COMMANDS:
        sys.stderr.write(f"`{argv[0]}` is a course operation: use `python -m instructor {argv[0]}` "
                         "in the course repository.\n")
        return 2
    return dispatch("helpers", COMMANDS, argv)


def dispatch(program: str, commands: dict[str, tuple[str, str]], argv: list[str]) -> int:
    """Run ``commands[argv[0]]``'s ``main(argv[1:])`` (imported lazily); usage on ``-h`` or none.

    Args:
        program: the package named in the usage line (``python -m <program>``).
        commands: ``{name: (module, one-line help)}``; ``"module:function"`` runs that
            function instead of the module's ``main``.
        argv: the command line after the program name.
    """
    if not argv or argv[0] in ("-h", "--help"):
        _usage(sys.stdout, program, commands)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in commands:
        sys.stderr.write(f"unknown command {command!r}.\n")
        _usage(sys.stderr, program, commands)
        return 2
    module_name, _, function = commands[command][0].partition(":")
    module = __import__(module_name, fromlist=[function or "main"])
    return int(getattr(module, function or "main")(rest) or 0)


def _usage(stream, program: str, commands: dict[str, tuple[str, str]]) -> None:
    width = max(len(name) for name in commands) + 1
    stream.write(f"usage: python -m {program} COMMAND [options]\n\ncommands:\n")
    for name, (_, help_text) in commands.items():
        stream.write(f"  {name:<{width}} {help_text}\n")
    stream.write(f"\n`python -m {program} COMMAND --help` shows a command's options.\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
