"""Shared test set-up: no network, no user caches touched, Agg plots, clean provenance."""
from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Test files live in tests/helpers, tests/instructor and tests/notebooks; shared test code
# (solution_code.py) sits here, beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _share_threads_between_workers() -> None:
    """Under pytest-xdist, give each worker its share of the cores (torch and the notebook
    kernels it starts inherit it): N workers with all cores each would oversubscribe."""
    from helpers.devices import threads_per_process

    threads = threads_per_process(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0))
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        import torch

        torch.set_num_threads(threads)


_share_threads_between_workers()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory):
    """Each test sees empty kit settings and a clean provenance log.

    The torch hub cache is left alone (reading it is harmless); tests that write weight
    files point ``TORCH_HOME`` at their own temporary folder.
    """
    for var in ("KIT_PROFILE", "KIT_DEVICE", "KIT_ALLOW_RANDOM_WEIGHTS", "KIT_REQUIRE_WEIGHTS",
                "KIT_PROVENANCE_FILE", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(var, raising=False)
    from helpers import provenance
    provenance.clear()
    yield
    provenance.clear()


@pytest.fixture(scope="session")
def toynet_cache_dir(tmp_path_factory):
    """A session-wide temporary cache directory for the toy classifier's weights."""
    return tmp_path_factory.mktemp("toynet-cache")


@pytest.fixture(scope="session")
def trained_toynet(toynet_cache_dir):
    """The offline toy classifier (``helpers.toynet``), trained once per session (~16 s on
    one CPU core) into ``toynet_cache_dir``. Shared: do not train it or change its weights."""
    from helpers.toynet import load_toynet
    return load_toynet(cache_dir=toynet_cache_dir)
