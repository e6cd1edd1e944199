"""The style-transfer notebook in a real browser: JupyterLab 4 and Notebook 7 on localhost, driven by
headless Chromium.

For each front end a fresh Jupyter server (JupyterLab, which also serves Notebook 7's pages) starts
on a free port with a token, on a temporary copy of
``solutions/07_style_transfer`` (nothing is written into the repository), with
``KIT_PROFILE=smoke`` and ``KIT_ALLOW_RANDOM_WEIGHTS=1``. Playwright drives the system's
Chromium (Debian's ``chromium`` package; no browser download): open the notebook, run all
cells, press Run in the control panel, wait until the run ends, check that the live preview
showed at least two different pictures on the way, save a screenshot, and fail on any
JavaScript error in the console; once in JupyterLab's page and once in Notebook 7's.

The screenshots go to ``$KIT_TEST_ARTIFACTS`` (default ``build/test-artifacts/``).
Without Chromium or Playwright the test is skipped, unless ``KIT_BROWSER_TEST=required``
(set by ``.ci/run``), where it fails instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from instructor.course import repo_root

ROOT = repo_root()
NOTEBOOK = ROOT / "solutions" / "07_style_transfer" / "style_transfer.ipynb"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
#: Console messages of type "error" that are not failures: none so far. Add (substring, why) pairs.
BENIGN_CONSOLE_ERRORS: tuple[tuple[str, str], ...] = ()
#: Uncaught page errors that are not failures, per front end: (exact message, why).
BENIGN_PAGE_ERRORS: dict[str, tuple[tuple[str, str], ...]] = {
    "notebook7": (("Cannot read properties of undefined (reading 'schema')",
                   "Notebook 7.6's keyboard-shortcuts settings handler reads the schema of a plugin whose "
                   "settings are not loaded yet (minified notebook_core, `t.plugins[i].schema` in its pluginChanged "
                   "handler); it also happens with nbgrader's front-end extension disabled and without this "
                   "test's server settings, and the notebook, its kernel and the widgets work after it"),),
}
RUN_ALL_TIMEOUT_S = 240
PREVIEW_TIMEOUT_S = 120


def _chromium() -> str | None:
    found = os.environ.get("KIT_CHROMIUM") or next((c for c in CHROMIUM_CANDIDATES if os.access(c, os.X_OK)), None)
    return found or shutil.which("chromium")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[dev]')"
    if _chromium() is None:
        return "no Chromium found (/usr/bin/chromium; Debian: apt-get install chromium; or set KIT_CHROMIUM)"
    try:
        import jupyterlab  # noqa: F401
        import jupyterlab_widgets  # noqa: F401
    except ImportError:
        return "JupyterLab or jupyterlab_widgets is not installed (pip install -e '.[lab]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _artifacts() -> Path:
    folder = Path(os.environ.get("KIT_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def lab(tmp_path_factory):
    """A Jupyter server (JupyterLab and Notebook 7) on a fresh copy of the notebook's folder, one per
    test, so that no session, kernel or document state carries from one front end to the other:
    yields (base URL, token, home)."""
    why = _missing()
    if why:
        if os.environ.get("KIT_BROWSER_TEST") == "required":
            pytest.fail(f"browser test required but {why}")
        pytest.skip(why)
    home = tmp_path_factory.mktemp("lab")
    work = home / "work"
    shutil.copytree(NOTEBOOK.parent, work)
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No news or update checks: nothing is fetched from the internet, no toast covers the page.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # nbgrader's server extensions (installed with the grading tools) have no course here.
    config = home / "config"
    config.mkdir()
    off = {f"nbgrader.server_extensions.{name}": False
           for name in ("assignment_list", "course_list", "formgrader", "validate_assignment")}
    (config / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": off}}))
    port, token = _free_port(), hashlib.sha256(os.urandom(16)).hexdigest()[:32]
    env = dict(os.environ, KIT_PROFILE="smoke", KIT_ALLOW_RANDOM_WEIGHTS="1", KIT_CACHE_DIR=str(home / "cache"),
               JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               IPYTHONDIR=str(home / "ipython"), MPLBACKEND="module://matplotlib_inline.backend_inline",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.pop("NBGRADER_EXECUTION", None)
    log = open(home / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         "--JupyterNotebookApp.expose_app_in_browser=True",
         "--ServerApp.open_browser=False", "--LabApp.news_url=None"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > end:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'jupyterlab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token, home
    finally:
        try:
            request = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            server.wait(30)
        except Exception:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()


def _preview_bytes(page, selector: str) -> str:
    """SHA-256 of the bytes behind the preview image's src ("" while it has none)."""
    return page.evaluate("""async (selector) => {
        const img = document.querySelector(selector);
        if (!img || !img.src || !img.complete || img.naturalWidth === 0) return "";
        const data = await (await fetch(img.src)).arrayBuffer();
        const digest = await crypto.subtle.digest("SHA-256", data);
        return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, "0")).join("");
    }""", selector)


def _record_previews(page, selector: str) -> None:
    """From now on, every picture the preview image decodes is fingerprinted (its pixels, read at its
    load event, before the widget can revoke the blob URL) and appended to ``window.kitPreviews``."""
    page.evaluate("""(selector) => {
        window.kitPreviews = [];
        const img = document.querySelector(selector);
        img.addEventListener("load", () => {
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const context = canvas.getContext("2d");
            context.drawImage(img, 0, 0);
            const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let hash = 2166136261;  // FNV-1a over the RGBA bytes
            for (let i = 0; i < pixels.length; i++) { hash = Math.imul(hash ^ pixels[i], 16777619) >>> 0; }
            window.kitPreviews.push(`${canvas.width}x${canvas.height}:${hash.toString(16)}`);
        });
    }""", selector)


def _wait(predicate, timeout: float, what: str, page=None, errors=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if errors:
            break
        time.sleep(0.25)
    shot = None
    if page is not None:
        shot = _artifacts() / "browser-style-transfer-failed.png"
        page.screenshot(path=str(shot), full_page=True)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}" + (f"; screenshot: {shot}" if shot else "")
                + (f"; JavaScript errors: {errors}" if errors else ""))


# Both front ends, each on its own server: JupyterLab 4 and Notebook 7.
FRONT_ENDS = {"jupyterlab": "lab/tree", "notebook7": "notebooks"}


@pytest.mark.parametrize("front_end", sorted(FRONT_ENDS))
def test_style_transfer_panel_runs_in_the_browser(lab, front_end):
    from playwright.sync_api import sync_playwright

    base, token, home = lab
    started = time.monotonic()
    errors: list[str] = []

    def on_console(message):
        if message.type == "error" and not any(s in message.text for s, _ in BENIGN_CONSOLE_ERRORS):
            errors.append(f"console: {message.text}")

    with sync_playwright() as p:
        # launch() gives the browser a fresh temporary profile of its own.
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", on_console)
            benign = {message for message, _ in BENIGN_PAGE_ERRORS.get(front_end, ())}
            page.on("pageerror", lambda exc: None if exc.message in benign else errors.append(f"page error: {exc}"))
            page.goto(f"{base}/{FRONT_ENDS[front_end]}/{NOTEBOOK.name}?token={token}", wait_until="domcontentloaded")
            kernel_idle = """() => {
                const app = window.jupyterapp; const w = app && app.shell.currentWidget;
                const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                return !!kernel && kernel.status === "idle" && !!w.content && w.content.widgets.length > 0;
            }"""
            _wait(lambda: page.evaluate(kernel_idle), 120, "the notebook and an idle kernel", page, errors)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            panel = page.locator(".kit-panel")
            _wait(lambda: panel.count() > 0 and panel.first.is_visible(), RUN_ALL_TIMEOUT_S,
                  "all cells to run and the control panel to appear", page, errors)
            assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] "
                                    ":text('Traceback')").count(), "a cell raised"
            image = ".kit-panel .widget-image"
            before = _preview_bytes(page, image)
            _record_previews(page, image)
            panel.locator("button:has-text('Run')").click()
            _wait(lambda: panel.locator("a[download]").count() > 0, PREVIEW_TIMEOUT_S,
                  "the run to finish and offer a download", page, errors)
            # A smoke run can end between two polls, so the pictures the page decoded on the way are counted.
            _wait(lambda: len(set(page.evaluate("() => window.kitPreviews"))) >= 2, 15,
                  "the live preview to show two different pictures", page, errors)
            assert _preview_bytes(page, image) not in ("", before)
            status = panel.locator("text=/steps in/").first.inner_text()
            panel.scroll_into_view_if_needed()
            shot = _artifacts() / f"browser-style-transfer-{front_end}.png"
            panel.screenshot(path=str(shot))
            page.screenshot(path=str(_artifacts() / f"browser-style-transfer-{front_end}-page.png"))
            shown = page.evaluate("() => window.kitPreviews")
            print(f"\nscreenshot: {shot}\npanel status: {status}"
                  f"\npreview pictures: {len(shown)} ({len(set(shown))} distinct)"
                  f"\nbrowser test: {time.monotonic() - started:.1f} s")
            href = panel.locator("a[download]").first.get_attribute("href")
            assert href.startswith("data:image/png;base64,")
        finally:
            browser.close()
    assert not errors, "JavaScript errors in the console:\n" + "\n".join(errors)
