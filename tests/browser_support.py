"""Real-browser test support: a JupyterLab server the test starts itself, and Debian's headless Chromium.

Nothing here downloads a browser: Playwright drives ``/usr/bin/chromium`` (``apt-get install chromium``; see
``scripts/test.sh``). Without it the browser tests skip with the reason, except in CI (``CI=true``), where a missing
browser is a failure.

- :func:`jupyter_lab` starts ``python -m jupyter lab`` on a free localhost port with a random token, a temporary
  root folder and temporary Jupyter config/runtime/data folders (so nothing of the user's setup leaks in; the
  venv's own kernel and lab extensions are still found through ``sys.prefix``), waits for ``/api/status``, and
  always stops the server and its kernels.
- :func:`launch_chromium` starts headless Chromium through Playwright; :class:`LabPage` drives one notebook in
  JupyterLab: open it, run all cells from the Run menu, click widget buttons, read audio elements, screenshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import typing as T
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Screenshots and server logs of the browser tests (gitignored).
ARTIFACTS = REPO / "artifacts"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: User settings for the test's JupyterLab: start the notebook's kernel without asking, no news toast.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}

#: The interpreter that runs JupyterLab and, through the native ``python3`` kernel, the notebook's code.
PYTHON = sys.executable


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_browser() -> None:
    """Skip (or, in CI, fail) with a clear message unless Chromium and Playwright are usable."""
    problems = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright Python package is missing: pip install -e '.[dev]'")
    if problems:
        message = "real-browser tests need a browser: " + "; ".join(problems)
        if in_ci():
            pytest.fail(message + " (CI=true: browser tests may not be skipped)", pytrace=False)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer(T.NamedTuple):
    url: str
    token: str
    root: Path
    log: Path

    def address(self, path: str) -> str:
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}"

    def api(self, path: str, method: str = "GET") -> T.Any:
        """Call the server's REST API (``api/sessions``, ...); returns the decoded JSON (None when empty)."""
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every notebook session (and its kernel): each test starts from a server with no kernels."""
        for session in self.api("api/sessions"):
            self.api(f"api/sessions/{session['id']}", method="DELETE")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path, *, log: Path, timeout: float = 60.0) -> T.Iterator[LabServer]:
    """Run JupyterLab serving ``root``, with its Jupyter/IPython folders under ``home``; stop it on exit."""
    token = secrets.token_hex(24)
    port = free_port()
    env = dict(os.environ)
    folders = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTERLAB_SETTINGS_DIR": home / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "lab-workspaces",
        "IPYTHONDIR": home / "ipython",
        "MPLCONFIGDIR": home / "matplotlib",
    }
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    for plugin, settings in LAB_SETTINGS.items():
        path = folders["JUPYTERLAB_SETTINGS_DIR"] / f"{plugin.replace(':', '/')}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    # Tests never download: keep the Hugging Face hub offline in the kernels too.
    env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", JUPYTER_PLATFORM_DIRS="1")
    command = [
        PYTHON, "-m", "jupyter", "lab",
        "--no-browser",
        f"--ServerApp.token={token}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        # No news or update checks: no network, and no notification toasts over the notebook in screenshots.
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and CI images often run tests as root, which Jupyter refuses without this.
        command.append("--allow-root")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as log_file:
        # Its own session, so stopping it reaches the kernels it started and nothing else.
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(f"http://127.0.0.1:{port}/", token, root, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {process.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(server.address("api/status"), timeout=2) as response:
                    if response.status == 200:
                        json.load(response)
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer /api/status within {timeout:.0f} s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server (it shuts its kernels down), then SIGKILL whatever is left of its process group."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    # Kernels live in the same process group; make sure none outlives the test.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def launch_chromium() -> T.Iterator[T.Any]:
    """A Playwright Browser on Debian's headless Chromium (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def write_notebook(path: Path, cells: T.Sequence[str]) -> Path:
    """Write a notebook of code ``cells`` for the venv's ``python3`` kernel (no outputs)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


class LabPage:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page, server: LabServer, shots: Path):
        self.page = page
        self.server = server
        self.shots = shots
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    #: The notebook in the front tab (other tabs' panels stay in the page, hidden).
    NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"

    def open(self, notebook: str, timeout: float = 60.0) -> None:
        """Open ``notebook`` (a path under the server's root) alone, in a fresh workspace, and wait for its kernel."""
        workspace = "test-" + secrets.token_hex(4)
        self.page.goto(self.server.address(f"lab/workspaces/{workspace}/tree/{notebook}?reset"), timeout=timeout * 1000)
        self.page.wait_for_selector(f"{self.NOTEBOOK} .jp-Notebook .jp-Cell", timeout=timeout * 1000)
        self.wait_kernel_ready(notebook, timeout)

    def wait_kernel_ready(self, notebook: str, timeout: float = 60.0) -> None:
        """Wait until the server reports the notebook's kernel idle with the page connected to it.

        The toolbar says "idle" before the kernel has even started; cells run then can be lost, so ask the server.
        """
        deadline = time.monotonic() + timeout
        while True:
            with urllib.request.urlopen(self.server.address("api/sessions"), timeout=5) as response:
                sessions = json.load(response)
            kernels = [s.get("kernel") or {} for s in sessions if s.get("path", "").endswith(notebook)]
            if any(k.get("execution_state") == "idle" and k.get("connections", 0) >= 1 for k in kernels):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the kernel of {notebook} did not become ready: {sessions}\n{self.server.log_tail()}")
            time.sleep(0.25)

    def run_all(self, timeout: float = 120.0) -> None:
        """Run > Run All Cells, then wait until every code cell has an execution count."""
        page = self.page
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_function(
            "selector => { const prompts = [...document.querySelectorAll(selector + ' .jp-CodeCell .jp-InputPrompt')];"
            " return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)); }",
            arg=self.NOTEBOOK,
            timeout=timeout * 1000,
        )

    def notebook(self):
        """The front notebook's panel."""
        return self.page.locator(self.NOTEBOOK).first

    def cell_output(self, index: int):
        """The output area of the front notebook's ``index``-th code cell (0-based)."""
        return self.notebook().locator(".jp-CodeCell").nth(index).locator(".jp-OutputArea")

    def errors_shown(self) -> list[str]:
        """Text of output errors and widget render failures anywhere in the notebook."""
        return self.page.evaluate(
            "selector => [...document.querySelectorAll(selector + ' .jp-OutputArea-output')]"
            ".map(el => el.innerText).filter(t => /Error displaying widget|Traceback|Error:/.test(t))",
            self.NOTEBOOK,
        )

    def screenshot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def audio_state(self, locator, timeout: float = 30.0) -> dict:
        """Wait until the audio element under ``locator`` has loaded its metadata; return readyState, duration,
        paused, autoplay and loop."""
        audio = locator.locator("audio").first
        audio.wait_for(state="attached", timeout=timeout * 1000)
        audio.evaluate("a => { if (a.readyState < 1) a.load(); }")
        self.page.wait_for_function(
            "a => a.readyState >= 1 && isFinite(a.duration) && a.duration > 0",
            arg=audio.element_handle(),
            timeout=timeout * 1000,
        )
        return audio.evaluate(
            "a => ({readyState: a.readyState, duration: a.duration, paused: a.paused, autoplay: a.autoplay,"
            " loop: a.loop, controls: a.controls, error: a.error ? a.error.code : null})"
        )

    def image_size(self, locator, timeout: float = 30.0) -> dict:
        """Wait until the image under ``locator`` has decoded; return its natural and shown size."""
        image = locator.locator("img").first
        image.wait_for(state="visible", timeout=timeout * 1000)
        self.page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=image.element_handle(),
                                    timeout=timeout * 1000)
        return image.evaluate("i => ({naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,"
                              " width: i.width, height: i.height})")


# Fixtures (import them into a test module: `from browser_support import lab, chromium`) --------------------------


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Debian's), shared by a module's tests."""
    require_browser()
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over an empty temporary root folder (``lab.root``), stopped after the module."""
    require_browser()
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    with jupyter_lab(root, base / "home", log=ARTIFACTS / "browser" / "jupyterlab.log") as server:
        yield server
