"""Shared pieces of the benchmarks: machine description, timers, result files.

Each benchmark writes ``bench/results/<name>.json``; :mod:`bench.report` turns every
result file present into ``BENCHMARKS.md``, so running one benchmark updates its own
section and keeps the others.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # bench/*.py run as scripts
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instructor.course import repo_root  # noqa: E402

REPO = repo_root()
RESULTS = Path(os.environ.get("BENCH_RESULTS", REPO / "bench" / "results"))


def machine() -> dict:
    """CPU model, cores, memory, load, library versions and the accelerator, for the report."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = ", ".join(f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in text)
    except OSError:
        pass
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "memory_gib": mem_gib, "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "torch": torch.__version__, "gpu": gpu,
            "platform": platform.platform(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


class Stopwatch:
    """Wall time that can leave out measurement work: ``with watch.paused(): …``."""

    def __init__(self):
        self._start = time.perf_counter()
        self._excluded = 0.0

    @contextmanager
    def paused(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self._excluded += time.perf_counter() - t

    def elapsed(self) -> float:
        return time.perf_counter() - self._start - self._excluded


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"benchmark": name, "machine": machine(), **data}
    path.write_text(json.dumps(data, indent=1))
    return path


def load_all() -> dict[str, dict]:
    if not RESULTS.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}


def run_json(cmd: list[str], timeout: float = 3600, env: dict | None = None) -> dict:
    """Run ``cmd`` (a Python benchmark step in a fresh process) and parse the last stdout line as JSON."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
