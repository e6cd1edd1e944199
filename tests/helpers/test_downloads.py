"""The fetch-to-cache mechanism (helpers.downloads) and `python -m helpers download` (helpers.prefetch).

No network: every URL is a local ``file://`` copy or an unreachable local port.
"""
from __future__ import annotations

import dataclasses
import hashlib

import pytest

from helpers import cli, downloads
from helpers import samples as S
from helpers.errors import DownloadError

UNREACHABLE = "http://127.0.0.1:9/file.bin"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "mirror" / "file.bin"
    path.parent.mkdir()
    path.write_bytes(b"0123456789" * 100)
    return path


def test_fetch_puts_the_file_in_place_and_leaves_no_temporary_file(tmp_path, source):
    target = tmp_path / "cache" / "kept.bin"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert downloads.fetch_to_cache(source.as_uri(), target, max_bytes=10_000, sha256=digest[:8],
                                    size=1000) == target
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["kept.bin"]


@pytest.mark.parametrize("given, reason", [
    ({"size": 999}, "1,000 bytes arrived, 999 expected"),
    ({"sha256": "ffffffff"}, "SHA-256 starts with"),
    ({"max_bytes": 999}, "the server sent more than 999 bytes"),
    ({"check": lambda path: "not what was asked for"}, "not what was asked for"),
])
def test_a_refused_download_names_url_file_and_fix_and_leaves_nothing(tmp_path, source, given, reason):
    target = tmp_path / "cache" / "refused.bin"
    with pytest.raises(DownloadError) as info:
        downloads.fetch_to_cache(source.as_uri(), target, **{"max_bytes": 10_000, **given})
    message = str(info.value)
    for needle in (reason, source.as_uri(), str(target), "To fix it"):
        assert needle in message, needle
    assert not any(target.parent.iterdir())


def test_unreachable_server_and_empty_response_are_download_errors(tmp_path):
    target = tmp_path / "cache" / "x.bin"
    with pytest.raises(DownloadError, match="cannot reach the server"):
        downloads.fetch_to_cache(UNREACHABLE, target, max_bytes=100, timeout=5)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(DownloadError, match="empty response"):
        downloads.fetch_to_cache(empty.as_uri(), target, max_bytes=100, explain=lambda reason: f"custom: {reason}")
    assert not any(target.parent.iterdir())


def test_unwritable_cache_folder_is_a_download_error(tmp_path, source):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DownloadError, match="cannot write to the folder"):
        downloads.fetch_to_cache(source.as_uri(), blocker / "sub" / "x.bin", max_bytes=10_000)


def test_downloaded_yields_a_temporary_file_and_removes_it(tmp_path, source):
    folder = tmp_path / "unpack"
    with downloads.downloaded(source.as_uri(), folder, max_bytes=10_000, prefix="zip", suffix=".zip") as tmp:
        assert tmp.parent == folder and tmp.name.startswith(".zip-") and tmp.read_bytes() == source.read_bytes()
    assert not any(folder.iterdir())


def test_download_command_fetches_and_lists(monkeypatch, tmp_path, capsys):
    from PIL import Image

    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    painting = tmp_path / "starry.png"
    Image.new("RGB", (30, 20), (10, 20, 200)).save(painting)
    monkeypatch.setitem(S.PAINTINGS, "starry_night",
                        dataclasses.replace(S.PAINTINGS["starry_night"], url=painting.as_uri()))
    assert cli.main(["download", "paintings", "starry_night"]) == 0
    assert "ok      starry_night" in capsys.readouterr().out
    assert cli.main(["download", "all", "--list"]) == 0
    out = capsys.readouterr().out
    assert "== paintings" in out and "== styles" in out and "== weights" in out
    assert any(line.startswith("starry_night") and "cached" in line for line in out.splitlines())
    assert any(line.startswith("candy") and "missing" in line for line in out.splitlines())
    assert cli.main(["download", "styles", "--url", (tmp_path / "none.zip").as_uri()]) == 1
    assert "FAILED" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["download", "styles", "candy"])
    assert exit_info.value.code == 2
