"""The command lines as users type them: `python -m helpers …` (students) and `python -m instructor …`."""
import dataclasses
import subprocess
import sys

import pytest

from helpers import samples as S
from helpers.cli import INSTRUCTOR_COMMANDS, main
from instructor import cli as instructor_cli
from instructor.course import repo_root


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("doctor", "weights", "paintings", "styles"):
        assert command in out
    for command in ("release", "grade", "demo"):
        assert f"  {command} " not in out


def test_unknown_command_is_an_error_with_usage(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_module_entry_point_runs_doctor():
    proc = subprocess.run([sys.executable, "-m", "helpers", "doctor"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "device" in proc.stdout and "profile" in proc.stdout


def test_paintings_prefetch_and_list(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "starry.png"
    from PIL import Image
    Image.new("RGB", (30, 20), (10, 20, 200)).save(source)
    monkeypatch.setitem(S.PAINTINGS, "starry_night",
                        dataclasses.replace(S.PAINTINGS["starry_night"], url=source.as_uri()))
    monkeypatch.setitem(S.PAINTINGS, "great_wave",
                        dataclasses.replace(S.PAINTINGS["great_wave"], url="http://127.0.0.1:9/wave.jpg"))
    assert main(["paintings", "prefetch", "starry_night"]) == 0
    assert main(["paintings", "prefetch", "great_wave"]) == 1
    assert "FAILED  great_wave" in capsys.readouterr().err
    assert main(["paintings", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(l.startswith("starry_night") and "cached" in l for l in lines)
    assert any(l.startswith("great_wave") and "missing" in l for l in lines)


def test_release_rejects_an_unknown_topic(capsys):
    assert instructor_cli.main(["release", "--check", "99"]) == 2
    assert "no topic '99'" in capsys.readouterr().err


@pytest.mark.parametrize("command", INSTRUCTOR_COMMANDS)
def test_a_course_operation_in_helpers_names_the_instructor_command(command, capsys):
    assert main([command, "--help"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"`{command}` is a course operation: use `python -m instructor {command}` in the course repository."]


def test_instructor_help_lists_every_course_operation(capsys):
    assert instructor_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in INSTRUCTOR_COMMANDS:
        assert f"  {command} " in out and command in instructor_cli.COMMANDS
    assert instructor_cli.main(["doctor"]) == 2


def test_instructor_module_entry_point_dispatches():
    proc = subprocess.run([sys.executable, "-m", "instructor", "bundle", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=repo_root())
    assert proc.returncode == 0 and "python -m instructor bundle" in proc.stdout


def test_help_and_docstring_name_exactly_the_commands_dispatched(capsys):
    import re

    from helpers import cli

    assert main(["--help"]) == 0
    listed = re.findall(r"^  (\S+) ", capsys.readouterr().out, flags=re.M)
    assert listed == list(cli.COMMANDS)
    in_docstring = re.search(r"python -m helpers \{([^}]*)\}", cli.__doc__).group(1)
    assert [c.strip() for c in in_docstring.split(",")] == list(cli.COMMANDS)
    for command in cli.COMMANDS:
        with pytest.raises(SystemExit) as exit_info:   # argparse's --help exits 0: the command runs
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert f"python -m helpers {command}" in capsys.readouterr().out


def _environment_variables_read_by_helpers() -> set[str]:
    """Names passed to os.environ.get / os.environ[...] / os.getenv anywhere in `helpers`,
    string constants (``DATA_ENV = "KIT_DATA_DIR"``) resolved."""
    import ast

    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in (repo_root() / "helpers").rglob("*.py")]
    constants = {t.id: node.value.value for tree in trees for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for t in node.targets if isinstance(t, ast.Name)}

    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ" or \
            isinstance(node, ast.Name) and node.id == "environ"

    keys = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args and (
                    (node.func.attr in ("get", "setdefault", "pop") and is_environ(node.func.value))
                    or node.func.attr == "getenv"):
                keys.append(node.args[0])
            elif isinstance(node, ast.Subscript) and is_environ(node.value):
                keys.append(node.slice)
    names = set()
    for key in keys:
        if isinstance(key, ast.Constant):
            names.add(key.value)
        elif isinstance(key, ast.Name) and key.id in constants:
            names.add(constants[key.id])
        elif isinstance(key, ast.Name):
            continue  # a loop variable, e.g. doctor's own `for var in ENV_VARS`
        else:
            raise AssertionError(f"cannot tell which environment variable {ast.unparse(key)} is")
    return names


def test_doctor_knows_every_environment_variable_the_kit_reads(monkeypatch):
    from helpers import doctor

    read = _environment_variables_read_by_helpers()
    assert {"KIT_DEVICE", "KIT_CACHE_DIR", "KIT_DATA_DIR", "KIT_WIDGETS"} <= read
    assert read <= set(doctor.ENV_VARS), f"doctor.ENV_VARS misses {sorted(read - set(doctor.ENV_VARS))}"
    monkeypatch.setenv("KIT_WIDGETS", "0")
    monkeypatch.delenv("KIT_PROVENANCE_FILE", raising=False)
    text = "\n".join(doctor.report())
    assert "env          KIT_WIDGETS=0" in text
    unset = text.split("env unset", 1)[1]
    assert "KIT_PROVENANCE_FILE" in unset and "KIT_WIDGETS" not in unset
