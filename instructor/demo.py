"""``python -m instructor demo``: run the solution notebooks headless and write a gallery.

Each ``solutions/NN_topic/*.ipynb`` runs in a fresh IPython kernel of this very
interpreter, with the run profile injected after its ``parameters`` cell (as papermill
does). A failing notebook does not stop the others; the command exits non-zero at
the end. Output, under ``build/demo/`` by default::

    index.html        the gallery: device, profile, versions; per notebook its figures,
                      wall time and the weights it used
    NN_topic.html     each executed notebook
    figures/*.png     the key figures
    summary.json      the same facts, machine-readable
    provenance/*.jsonl  the weights records each notebook wrote

Without pretrained weights the notebooks fall back to seeded random weights, and the
gallery, every affected page and the console say so; ``--require-weights`` (or
``KIT_REQUIRE_WEIGHTS=1``) makes them fail instead.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import torch
import torchvision

import helpers
from helpers.devices import PROFILE_ENV, PROFILE_NAMES, get_profile
from helpers.errors import CorruptWeightsError, WeightsUnavailableError
from helpers.models import ALLOW_RANDOM_ENV, REQUIRE_WEIGHTS_ENV
from helpers.provenance import PROVENANCE_FILE_ENV
from helpers.weights import PREFETCH_COMMAND
from helpers.widgets import WIDGETS_ENV
from instructor import gallery

try:
    import nbformat
    import zmq
    from ipykernel.kernelspec import get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(f"the demo needs the notebook tools of the 'grading' extra: "
                      f"pip install -e '.[grading]' ({exc})") from exc

DEFAULT_SOLUTIONS = "solutions"
DEFAULT_OUT = "build/demo"
DEFAULT_CELL_TIMEOUT = 1800
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
_TOPIC_DIR = re.compile(r"^\d{2}_")
_WEIGHT_ERRORS = {WeightsUnavailableError.__name__, CorruptWeightsError.__name__}


def main(argv: list[str]) -> int:
    """Run the demo; 0 when every notebook ran, 1 when any failed, 2 for bad arguments."""
    args = _parser().parse_args(argv)
    try:
        notebooks = find_notebooks(Path(args.solutions), args.topic)
        params = dict(_parse_param(p) for p in args.param)
    except ValueError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    require = args.require_weights or os.environ.get(REQUIRE_WEIGHTS_ENV) == "1"
    profile = get_profile(args.profile)
    params = {"profile": profile.name, **params}
    out = _prepare_out(Path(args.out).resolve())  # absolute: kernels run in the notebooks' folders
    env = kernel_env(profile.name, require)
    run = run_info(profile, args, require)
    exporter = HTMLExporter(template_name="lab", embed_images=True)

    started = time.perf_counter()
    results = []
    for number, (name, path) in enumerate(notebooks, start=1):
        print(f"[{number}/{len(notebooks)}] {path} ...", flush=True)
        result = run_and_render(path, name, out=out, params=params, env=env,
                                timeout=args.timeout, run=run, exporter=exporter)
        print(f"    {'ok' if result.ok else 'FAILED'} in {gallery.format_seconds(result.seconds)}; "
              f"weights: {gallery.weights_text(result.weights)}", flush=True)
        results.append(result)
    run["seconds"] = round(time.perf_counter() - started, 2)
    write_index(out, results, run)
    return _report(results, out, require)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m instructor demo",
        description="Run the solution notebooks headless and write a gallery (index.html).")
    parser.add_argument("--topic", nargs="+", action="extend", default=[], metavar="NN",
                        help="run only these topics (e.g. 07, or 07_style_transfer); default: all")
    parser.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                        help=f"run profile; default: ${PROFILE_ENV}, else the one that suits the device")
    parser.add_argument("--require-weights", action="store_true",
                        help="fail when pretrained weights are missing instead of using random ones "
                             f"(also: {REQUIRE_WEIGHTS_ENV}=1)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--solutions", default=DEFAULT_SOLUTIONS,
                        help=f"folder of NN_topic/*.ipynb notebooks (default: {DEFAULT_SOLUTIONS})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT, metavar="S",
                        help=f"seconds one cell may run (default: {DEFAULT_CELL_TIMEOUT})")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="extra parameter to inject (a Python literal, else a string); repeatable")
    return parser


def _parse_param(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"--param takes NAME=VALUE, got {text!r}")
    try:
        return name.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name.strip(), value


# ----------------------------------------------------------------------------- finding

def find_notebooks(solutions: Path, topics: list[str] | None = None) -> list[tuple[str, Path]]:
    """``(page name, path)`` of every ``solutions/NN_topic/*.ipynb``, in topic order.

    ``topics`` (``"07"``, ``"7"`` or a folder name) narrows the list; a topic that
    matches no folder raises ``ValueError`` naming the topics there are.
    """
    paths = sorted(p for p in solutions.glob("*/*.ipynb") if _TOPIC_DIR.match(p.parent.name))
    wanted = [t for item in topics or [] for t in item.split(",") if t.strip()]
    for topic in wanted:
        if not any(_topic_matches(p.parent.name, topic) for p in paths):
            have = sorted({p.parent.name for p in paths}) or ["none"]
            raise ValueError(f"no notebook for topic {topic!r} under {solutions}/; "
                             f"topics there: {', '.join(have)}")
    if wanted:
        paths = [p for p in paths if any(_topic_matches(p.parent.name, t) for t in wanted)]
    per_folder = {p.parent: sum(q.parent == p.parent for q in paths) for p in paths}
    return [(p.parent.name if per_folder[p.parent] == 1 else f"{p.parent.name}-{p.stem}", p)
            for p in paths]


def _topic_matches(folder: str, topic: str) -> bool:
    topic = topic.strip()
    if topic.isdigit():
        return folder.startswith(f"{int(topic):02d}_")
    return folder == topic


# ----------------------------------------------------------------------------- running

def inject_parameters(nb, params: dict) -> None:
    """Insert a cell tagged ``injected-parameters`` setting ``params``, right after the
    cell tagged ``parameters`` (or first, when there is none); replaces an earlier one."""
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    lines = ["# Parameters injected by `python -m instructor demo`"]
    lines += [f"{name} = {value!r}" for name, value in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]})
    position = next((i + 1 for i, c in enumerate(nb.cells)
                     if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(position, cell)


def kernel_env(profile: str, require_weights: bool) -> dict[str, str]:
    """Environment for the notebook kernels (the provenance file is added per notebook)."""
    env = dict(os.environ)
    # The inline backend renders with Agg, headless, and is what puts figures into the
    # notebook's outputs; a plain "Agg" would leave the notebooks without pictures.
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env[PROFILE_ENV] = profile
    if require_weights:
        env[REQUIRE_WEIGHTS_ENV] = "1"
        env.pop(ALLOW_RANDOM_ENV, None)
    else:
        env[ALLOW_RANDOM_ENV] = "1"
    # No one sees the notebook while it runs: control panels print one line instead.
    env[WIDGETS_ENV] = "0"
    # The kernels import the same `helpers` as this process, installed or not.
    package_root = str(Path(helpers.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


class _ThisInterpreter(KernelSpecManager):
    """Resolves every kernel name to ipykernel's own spec for ``sys.executable``, so that a
    ``python3`` kernel spec elsewhere on the machine (another venv, conda) is never used."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(**get_kernel_dict())


class _KernelManager(AsyncKernelManager):
    """A kernel manager that starts this interpreter's kernel, encrypted where both ends can."""

    def __init__(self, **kwargs):
        super().__init__(kernel_spec_manager=_ThisInterpreter(), **kwargs)
        if self.has_trait("transport_encryption") and zmq.has("curve"):
            self.transport_encryption = "auto"


def execute(nb, cwd: Path, env: dict[str, str], timeout: float) -> str | None:
    """Run ``nb`` in place in a fresh kernel, shut down afterwards; return ``None``, or the error as text."""
    client = NotebookClient(nb, kernel_name="python3", kernel_manager_class=_KernelManager,
                            timeout=timeout, startup_timeout=120,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        return f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # a dead kernel or a timeout must not stop the other notebooks
        return f"{type(exc).__name__}: {exc}"
    return None


def run_and_render(path: Path, name: str, *, out: Path, params: dict, env: dict[str, str],
                   timeout: float, run: dict, exporter: HTMLExporter) -> gallery.NotebookResult:
    """Execute one notebook, then write its page and figures; never raises for a notebook error."""
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, params)
    provenance_file = out / "provenance" / f"{name}.jsonl"
    started = time.perf_counter()
    error = execute(nb, path.parent, {**env, PROVENANCE_FILE_ENV: str(provenance_file)}, timeout)
    result = gallery.NotebookResult(
        name=name, source=str(path), title=gallery.notebook_title(nb, default=name),
        page=f"{name}.html", seconds=time.perf_counter() - started, error=error,
        weights=read_provenance(provenance_file),
        figures=gallery.save_figures(nb, out / "figures", name))
    write_page(out, nb, result, run, exporter)
    return result


def read_provenance(path: Path) -> list[dict]:
    """The weights records a notebook wrote (JSON lines), duplicates dropped."""
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [dict(t) for t in dict.fromkeys(tuple(sorted(r.items())) for r in records)]


# ----------------------------------------------------------------------------- writing

def _prepare_out(out: Path) -> Path:
    """Create the output folder, emptying the parts each run rewrites."""
    for part in ("figures", "provenance"):
        shutil.rmtree(out / part, ignore_errors=True)
        (out / part).mkdir(parents=True)
    return out


def run_info(profile, args, require_weights: bool) -> dict:
    """Device, profile, date and versions of this run, for the gallery header and summary."""
    device = profile.device
    device_name = str(device)
    if device.type == "cuda":
        device_name += f" ({torch.cuda.get_device_name(device)})"
    return {
        "device": str(device),
        "device_name": device_name,
        "profile": {"name": profile.name, "description": profile.description,
                    "image_size": profile.image_size, "iterations": profile.iterations,
                    "precision": profile.precision},
        "generated": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "platform": platform.platform(terse=True)},
        "require_weights": require_weights,
        "solutions": args.solutions,
        "topics": args.topic,
        "seconds": 0.0,
    }


def write_page(out: Path, nb, result: gallery.NotebookResult, run: dict, exporter: HTMLExporter) -> None:
    """Render the executed notebook ``nb`` to ``out/<page>`` with the gallery's bar on top."""
    resources = {"metadata": {"path": str(Path(result.source).parent), "name": result.title}}
    page, _ = exporter.from_notebook_node(nb, resources=resources)
    (out / result.page).write_text(gallery.decorate_page(page, result, run), encoding="utf-8")


def write_index(out: Path, results: list[gallery.NotebookResult], run: dict) -> None:
    """Write ``index.html`` and ``summary.json`` into ``out``."""
    (out / "index.html").write_text(gallery.index_html(results, run), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary(results, run), indent=2) + "\n", encoding="utf-8")


def summary(results: list[gallery.NotebookResult], run: dict) -> dict:
    """The run as plain data (what ``summary.json`` holds)."""
    return {
        **run,
        "random_weights": any(r.random_weights for r in results),
        "notebooks": [{**asdict(r), "status": "ok" if r.ok else "failed",
                       "seconds": round(r.seconds, 2), "random_weights": r.random_weights}
                      for r in results],
    }


def _report(results: list[gallery.NotebookResult], out: Path, require_weights: bool) -> int:
    """Print the closing lines (banner, failures, fixes); return the exit code."""
    if not results:
        print("No solution notebooks found: nothing to run.")
    if any(r.random_weights for r in results):
        print("\n" + "!" * 78 + "\n" + gallery.RANDOM_WEIGHTS_BANNER + "\n" + "!" * 78)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED {r.source}: {r.error}")
    if any(r.error and r.error.split(":")[0] in _WEIGHT_ERRORS for r in failed):
        why = "--require-weights is set, so " if require_weights else ""
        print(f"Pretrained weights are missing or corrupt; {why}the notebooks stop there. "
              f"Fix: `{PREFETCH_COMMAND}` (with network), then run the demo again.")
    print(f"Gallery: {out / 'index.html'}")
    return 1 if failed else 0
