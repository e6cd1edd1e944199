"""The command line: `python -m helpers …` as users type it."""
import dataclasses
import subprocess
import sys

from helpers import samples as S
from helpers.cli import main


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("doctor", "weights", "paintings", "release", "demo"):
        assert command in out


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
    assert main(["release", "--check", "99"]) == 2
    assert "no topic '99'" in capsys.readouterr().err
