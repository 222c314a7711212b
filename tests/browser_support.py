"""Real-browser helpers shared by the browser tests and benchmarks/bench_browser_viewer.py.

Debian's chromium, headless, with WebGL 2 through SwiftShader (a CPU renderer: no GPU needed),
a Streamlit server on a free port, and small wrappers around the browser viewer's test hooks
(``window.__bclViewer``, see ``viewer_frontend/src/index.js``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
#: WebGL 2 in headless chromium without a GPU: ANGLE on SwiftShader.
CHROMIUM_ARGS = ("--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist")


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def streamlit_server(env: Mapping[str, str], timeout_s: float = 90.0) -> Iterator[str]:
    """``streamlit run app.py`` on a free port; yields its URL, stops it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.headless", "true", "--server.address", "127.0.0.1",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("streamlit did not become healthy: "
                                       + process.stderr.read().decode()[-2000:]) from None
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def launch(playwright: Any) -> Any:
    """Headless Debian chromium with WebGL 2 on SwiftShader."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=list(CHROMIUM_ARGS))


def wait_idle(page: Any, timeout_ms: int = 120_000) -> None:
    """Until the page's script run has finished."""
    page.wait_for_timeout(400)
    page.wait_for_selector("[data-test-script-state='notRunning']", timeout=timeout_ms)


def wait_viewers(page: Any, count: int, timeout_ms: int = 120_000) -> None:
    """Until ``count`` browser viewers show their image."""
    page.wait_for_function(
        "n => window.__bclViewer && window.__bclViewer.viewers()"
        ".filter(v => v.root.getAttribute('data-bclv-ready')).length >= n",
        arg=count, timeout=timeout_ms, polling=100)


def viewer_attr(page: Any, index: int, name: str) -> str:
    """A ``data-bclv-*`` attribute of viewer ``index`` (0 = first on the page)."""
    return page.evaluate("([i, n]) => window.__bclViewer.viewers()[i].root.getAttribute(n)",
                         [index, f"data-bclv-{name}"])


def viewer_lps(page: Any, index: int) -> list[float]:
    """The LPS mm of viewer ``index``'s crosshair, as its status line reports it."""
    return [float(v) for v in viewer_attr(page, index, "lps").split(",")]


def canvas_point(page: Any, index: int, ras_mm: Sequence[float]) -> tuple[float, float]:
    """Page coordinates (CSS px) where viewer ``index`` draws the RAS point ``ras_mm``."""
    box = canvas(page, index).bounding_box()
    x, y = page.evaluate(
        "([i, p]) => window.__bclViewer.screenOf(window.__bclViewer.viewers()[i], p)",
        [index, list(ras_mm)])
    return box["x"] + x, box["y"] + y


def canvas(page: Any, index: int) -> Any:
    """The canvas of viewer ``index``, scrolled into view (mouse events need it on screen)."""
    element = page.locator("[data-testid=bclv-canvas]").nth(index)
    element.scroll_into_view_if_needed()
    return element


def scroll_to_slice(page: Any, index: int, slice_index: int, max_steps: int = 400) -> int:
    """Wheel over viewer ``index`` until its slice index (0-based) is ``slice_index``.

    Returns the number of wheel steps. Which wheel direction raises the index depends on the
    series' orientation, so the first step tells.
    """
    box = canvas(page, index).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    delta = -100
    for step in range(max_steps):
        now = int(viewer_attr(page, index, "slice"))
        if now == slice_index:
            return step
        page.mouse.wheel(0, delta)
        page.wait_for_function(
            "([i, s]) => window.__bclViewer.viewers()[i].root.getAttribute('data-bclv-slice')"
            " !== String(s)", arg=[index, now], timeout=10_000)
        after = int(viewer_attr(page, index, "slice"))
        if abs(after - slice_index) > abs(now - slice_index):
            delta = -delta
    raise AssertionError(f"viewer {index} did not reach slice {slice_index}")
