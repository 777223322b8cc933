"""The browser test (`make test-browser`): what a learner does, through JupyterLab's real UI.

Starts JupyterLab from this Python (.venv) on a free loopback port, with a throw-away workspace
under build/browser-test/ (never the learner's workspace/) and throw-away Jupyter config, data,
runtime and settings folders, then drives Debian's Chromium with Playwright:

1. opens the workspace copy of 00_setup.ipynb, runs Run > Run All Cells from the menu and waits
   until the status bar says Idle and no cell shows [*];
2. checks the saved notebook (Ctrl+S, then the .ipynb read back): Run All stops at the first
   error (the kernel aborts the queued cells). The first exercise stub defines its function
   without an error; its test cell calls it, so the first error must be the stub's
   NotImplementedError in that test cell, every code cell before it ran, none after it did, no
   cell wrote to stderr (a red box is what a learner notices first; TensorFlow's start-up lines
   were one), and the page shows exactly one red output box;
3. types the instructor's answer into that exercise cell (CodeMirror: select all, insert text),
   runs it and its test cell (Shift+Enter twice) and checks both ran without an error;
4. does step 1-2 for 02_functional_api.ipynb.

Screenshots go to build/browser-test/screenshots/. Every process it starts (the server, its
kernels, Chromium) is stopped at the end, also on failure.

Run it with `make test-browser` (installs Chromium from apt and Playwright from
requirements-browser.txt first). Not a pytest module: `make test` never runs it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "browser-test"
WORKSPACE = OUT / "workspace"
SCREENSHOTS = OUT / "screenshots"
STDERR_MIME = "application/vnd.jupyter.stderr"
# (notebook, grade_id of the exercise whose answer is typed in, or None)
NOTEBOOKS = [("00_setup.ipynb", "ex1-solution"), ("02_functional_api.ipynb", None)]
RUN_ALL_TIMEOUT_S = 150


class BrowserTestFailure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BrowserTestFailure(message)


def log(t0: float, message: str) -> None:
    print(f"[{time.monotonic() - t0:6.1f} s] {message}", flush=True)


# ---------------------------------------------------------------- setup: workspace, server


def make_workspace() -> None:
    """The learner's copy of the student notebooks, made the way the course makes it."""
    if importlib.util.find_spec("course_utils.workspace") is not None:
        subprocess.run(
            [sys.executable, "-m", "course_utils.workspace", "sync", "--dir", str(WORKSPACE)],
            cwd=ROOT,
            check=True,
        )
    else:  # until course_utils.workspace exists: the same files, copied by hand
        print("course_utils.workspace not found: copying release/*.ipynb into the workspace")
        WORKSPACE.mkdir(parents=True)
        for notebook in sorted((ROOT / "release").glob("*.ipynb")):
            shutil.copy2(notebook, WORKSPACE / notebook.name)
    for name, _ in NOTEBOOKS:
        check((WORKSPACE / name).is_file(), f"the workspace sync did not create {name}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jupyter_env() -> dict[str, str]:
    """Jupyter's and IPython's folders under build/browser-test/, so ~/.jupyter is untouched."""
    jupyter = OUT / "jupyter"
    dirs = {
        "JUPYTER_CONFIG_DIR": jupyter / "config",
        "JUPYTER_DATA_DIR": jupyter / "data",
        "JUPYTER_RUNTIME_DIR": jupyter / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": jupyter / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": jupyter / "lab-workspaces",
        "IPYTHONDIR": jupyter / "ipython",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    settings = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab"
    user_settings = {
        # no "Would you like to get notified about official Jupyter news?" toast, no update check
        "apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        # every cell attached to the DOM, so the test sees all of them
        "notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for relative, values in user_settings.items():
        (settings / relative).parent.mkdir(parents=True, exist_ok=True)
        (settings / relative).write_text(json.dumps(values))
    env = {**os.environ, **{key: str(path) for key, path in dirs.items()}}
    env.pop("JUPYTER_PATH", None)
    env.update(
        COURSE_PROFILE="fast",  # quick kernels
        COURSE_OFFLINE="1",  # the loaders never touch the network
        KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"),
    )
    return env


def start_server(port: int, token: str, log_file) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={WORKSPACE}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return subprocess.Popen(
        command,
        cwd=WORKSPACE,
        env=jupyter_env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed as one at the end
    )


def api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


def wait_for_server(server: subprocess.Popen, base: str, token: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        check(
            server.poll() is None,
            f"JupyterLab exited with {server.returncode}; its log:\n{log_path.read_text()}",
        )
        try:
            api(base, token, "/api/status")
            return
        except OSError:
            time.sleep(0.3)
    raise BrowserTestFailure(
        f"JupyterLab did not answer within 60 s; its log:\n{log_path.read_text()}"
    )


def stop_server(server: subprocess.Popen, base: str, token: str) -> None:
    """Stop the server, its kernels (each in a session of its own) and anything they started."""
    import psutil

    try:
        family = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if server.poll() is None:
        try:
            api(base, token, "/api/shutdown", method="POST")  # shuts the kernels down too
            server.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=5)


# ---------------------------------------------------------------- the notebook, read back


def read_notebook(name: str) -> list[dict]:
    return json.loads((WORKSPACE / name).read_text())["cells"]


def cell_text(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def output_text(output: dict) -> str:
    if output["output_type"] == "error":
        return f"{output['ename']}: {output['evalue']}"
    text = output.get("text", "")
    return text if isinstance(text, str) else "".join(text)


def describe(index: int, cell: dict) -> str:
    first_line = cell_text(cell).strip().splitlines()[0] if cell_text(cell).strip() else ""
    return f"cell {index} (execution count {cell.get('execution_count')}, {first_line[:70]!r})"


def is_exercise_stub(cell: dict) -> bool:
    return bool(cell["metadata"].get("nbgrader", {}).get("solution")) and (
        "raise NotImplementedError()" in cell_text(cell)
    )


def stderr_streams(cells: list[dict]) -> list[str]:
    found = []
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream" and output.get("name") == "stderr":
                found.append(f"{describe(index, cell)} wrote to stderr:\n{output_text(output)}")
    return found


def check_run_all(name: str, cells: list[dict]) -> int:
    """Assert what Run All leaves behind; return the index of the cell it stopped at.

    A stub (`raise NotImplementedError()` in a function body) defines its function without an
    error; the test cell after it calls the function and raises. Run All stops there: the
    kernel aborts the cells queued after an error.
    """
    code = [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"]
    errors = [
        (i, c, o) for i, c in code for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    streams = stderr_streams(cells)
    check(not streams, f"{name}: stderr output box(es) after Run All:\n" + "\n".join(streams))
    check(errors, f"{name}: Run All raised no error; the first exercise's test cell should have")
    first, cell, error = errors[0]
    stub = next((i for i, c in code if is_exercise_stub(c)), None)
    check(
        stub is not None,
        f"{name}: no exercise stub (nbgrader solution cell raising NotImplementedError)",
    )
    test = next(i for i, _ in code if i > stub)
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.get("traceback", [])))
    check(
        first == test
        and cells[test]["metadata"].get("nbgrader", {}).get("grade")
        and error["ename"] == "NotImplementedError"
        and "raise NotImplementedError()" in traceback,
        f"{name}: the first error is {output_text(error)!r} in {describe(first, cell)}; expected "
        f"the NotImplementedError of the first exercise stub (cell {stub}) in its test cell {test}",
    )
    not_run = [describe(i, c) for i, c in code if i < first and c.get("execution_count") is None]
    check(not not_run, f"{name}: cells before the first error did not run: {not_run}")
    after = [describe(i, c) for i, c in code if i > first and c.get("execution_count") is not None]
    check(not after, f"{name}: cells after the first error ran: {after}")
    return first


def answer_for(name: str, grade_id: str) -> str:
    """The instructor's solution cell, without the BEGIN/END SOLUTION marker lines."""
    instructor = json.loads((ROOT / "notebooks" / name).read_text())["cells"]
    for cell in instructor:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            lines = cell_text(cell).splitlines()
            return "\n".join(
                line for line in lines if not re.match(r"\s*### (BEGIN|END) SOLUTION", line)
            )
    raise BrowserTestFailure(f"notebooks/{name} has no cell with grade_id {grade_id!r}")


# ---------------------------------------------------------------- the browser


class Lab:
    """One JupyterLab page, showing one notebook."""

    def __init__(self, page, name: str):
        self.page = page
        self.name = name
        self.panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    def kernel_status(self) -> str:
        return self.page.evaluate(
            """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                   .map(e => e.textContent).find(t => / \\| /.test(t)) || ''"""
        )

    def prompts(self) -> list[str]:
        return self.panel.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()

    def wait_idle(self, what: str, timeout_s: float, changed_from: list[str] | None = None) -> None:
        """Wait until the status bar says Idle and no cell shows [*], twice in a row.

        changed_from: the prompts before the run; also wait until they changed, so that an Idle
        seen before the kernel picked the cells up does not count.
        """
        deadline = time.monotonic() + timeout_s
        stable = 0
        while time.monotonic() < deadline:
            status, prompts = self.kernel_status(), self.prompts()
            done = status.rstrip().endswith("| Idle") and not any("*" in p for p in prompts)
            if changed_from is not None and prompts == changed_from:
                done = False
            stable = stable + 1 if done else 0
            if stable >= 2:
                return
            time.sleep(0.4)
        raise BrowserTestFailure(
            f"{self.name}: {what} not finished after {timeout_s:.0f} s; status bar says "
            f"{self.kernel_status()!r}, prompts {self.prompts()}"
        )

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()

    def save(self) -> list[dict]:
        """Ctrl+S, wait until the tab is no longer marked unsaved, read the file back."""
        self.page.keyboard.press("Control+s")
        self.page.wait_for_function(
            """() => { const t = document.querySelector(
                   '.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current');
                   return t && !t.classList.contains('jp-mod-dirty'); }""",
            timeout=15_000,
        )
        return read_notebook(self.name)

    def stderr_boxes(self):
        """The red output boxes: tracebacks and stderr streams alike."""
        return self.panel.locator(f'.jp-OutputArea-output[data-mime-type="{STDERR_MIME}"]')

    def cell(self, index: int):
        return self.panel.locator(".jp-Notebook .jp-Cell").nth(index)

    def screenshot(self, file_name: str, index: int | None = None) -> Path:
        if index is not None:
            self.cell(index).scroll_into_view_if_needed()
        path = SCREENSHOTS / file_name
        self.page.screenshot(path=str(path))
        return path


def open_notebook(page, base: str, token: str, name: str, t0: float) -> Lab:
    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")
    lab = Lab(page, name)
    lab.panel.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    # the kernel starts with the notebook: wait until the status bar shows it Idle
    deadline = time.monotonic() + 60
    while not lab.kernel_status().rstrip().endswith("| Idle"):
        check(
            time.monotonic() < deadline,
            f"{name}: kernel not Idle 60 s after opening; status bar: {lab.kernel_status()!r}",
        )
        time.sleep(0.3)
    log(t0, f"{name}: open, kernel {lab.kernel_status()!r}")
    return lab


def run_all(lab: Lab, t0: float) -> int:
    before = lab.prompts()
    lab.menu("Run", "Run All Cells")
    lab.wait_idle("Run All Cells", RUN_ALL_TIMEOUT_S, changed_from=before)
    cells = lab.save()
    stopped = check_run_all(lab.name, cells)
    # what the learner sees: the only red box is the stub's NotImplementedError
    stderr_boxes = lab.stderr_boxes()
    check(
        stderr_boxes.count() == 1,
        f"{lab.name}: {stderr_boxes.count()} red (stderr) output boxes on the page, expected 1 "
        f"(the stub's traceback): {stderr_boxes.all_inner_texts()}",
    )
    shot = lab.screenshot(f"{Path(lab.name).stem}_run_all.png", stopped)
    log(
        t0,
        f"{lab.name}: Run All stopped at cell {stopped}, the first stub's test, as expected; "
        f"{shot.name}",
    )
    return stopped


def answer_exercise(lab: Lab, grade_id: str, t0: float) -> None:
    cells = read_notebook(lab.name)
    index = next(
        i
        for i, c in enumerate(cells)
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    )
    tests = next(i for i in range(index + 1, len(cells)) if cells[i]["cell_type"] == "code")
    answer = answer_for(lab.name, grade_id)
    editor = lab.cell(index).locator(".cm-content")
    editor.click()
    lab.page.keyboard.press("Control+a")
    lab.page.keyboard.insert_text(answer)  # no auto-closed brackets or auto-indent
    before = lab.prompts()
    lab.page.keyboard.press("Shift+Enter")  # run the answer, select the test cell
    lab.page.keyboard.press("Shift+Enter")  # run the test cell
    lab.wait_idle(f"running cells {index} and {tests}", 60, changed_from=before)
    cells = lab.save()
    check(
        cell_text(cells[index]) == answer,
        f"{lab.name}: cell {index} holds {cell_text(cells[index])!r} after typing, "
        f"not the answer {answer!r}",
    )
    for i in (index, tests):
        check(
            cells[i].get("execution_count") is not None,
            f"{lab.name}: {describe(i, cells[i])} did not run",
        )
        bad = [
            output_text(o)
            for o in cells[i].get("outputs", [])
            if o["output_type"] == "error" or o.get("name") == "stderr"
        ]
        check(not bad, f"{lab.name}: {describe(i, cells[i])} failed with the correct answer: {bad}")
    boxes = lab.stderr_boxes()
    check(
        boxes.count() == 0,
        f"{lab.name}: {boxes.count()} red output box(es) left after the answer: "
        f"{boxes.all_inner_texts()}",
    )
    shot = lab.screenshot(f"{Path(lab.name).stem}_{grade_id}_answered.png", tests)
    log(
        t0,
        f"{lab.name}: typed the answer to {grade_id} in cell {index}, its test cell {tests} "
        f"passed; {shot.name}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium to drive")
    parser.add_argument("--headed", action="store_true", help="show the browser window")
    args = parser.parse_args()
    t0 = time.monotonic()
    check(Path(args.chromium).is_file(), f"no Chromium at {args.chromium}")
    from playwright.sync_api import sync_playwright

    shutil.rmtree(OUT, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    make_workspace()
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    log_path = OUT / "jupyterlab.log"
    server = None
    try:
        with open(log_path, "w") as server_log:
            server = start_server(port, token, server_log)
            wait_for_server(server, base, token, log_path)
            log(t0, f"JupyterLab on {base} (log: {log_path.relative_to(ROOT)})")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium, headless=not args.headed
                )
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.set_default_timeout(30_000)
                    for name, grade_id in NOTEBOOKS:
                        lab = open_notebook(page, base, token, name, t0)
                        try:
                            run_all(lab, t0)
                            if grade_id:
                                answer_exercise(lab, grade_id, t0)
                        except Exception:
                            lab.screenshot(f"{Path(name).stem}_FAILED.png")
                            raise
                        for session in api(base, token, "/api/sessions"):  # free its memory
                            api(base, token, f"/api/sessions/{session['id']}", method="DELETE")
                finally:
                    browser.close()
    finally:
        if server is not None:
            stop_server(server, base, token)
    log(t0, f"browser test passed; screenshots in {SCREENSHOTS.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    start = time.monotonic()
    # a SIGTERM (a CI timeout) unwinds through the finally blocks, which stop the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        status = main()
    except BrowserTestFailure as failure:
        print(f"BROWSER TEST FAILED: {failure}", file=sys.stderr)
        status = 1
    print(f"make test-browser: {time.monotonic() - start:.1f} s", flush=True)
    sys.exit(status)
