"""Every entry URL gets the app's frame, even as the first visit to a freshly started server.

Streamlit reads the ``pages/`` folder next to app.py as legacy auto-discovered pages until a
session has run ``st.navigation``; a deep link opened first used to show the bare page (file
names in the sidebar, no synthetic-data notice, no model version). Each test starts its own
real server (``streamlit run app.py``) and opens one deep link first in Debian's chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from model_fixtures import TOY_VERSION, write_toy_models

from bcl_core import SYNTHETIC_NOTICE

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
#: The URL of each page: its file name without .py (st.Page's default), as a visitor types it.
DEEP_LINKS = ["reader_study", "study_admin", "evaluation", "patient_view", "about", "consult"]
#: Sidebar titles of the frame (app.py), never the raw file names of legacy discovery.
FRAME_TITLES = ["Consult", "Patient view", "Reader study", "Study admin", "Evaluation",
                "About the model"]

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (scripts/test_browser_deps.sh installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def fresh_server(tmp_path: Path) -> Iterator[str]:
    """A newly started app server that no browser has visited yet."""
    port = _free_port()
    env = {**os.environ, "BCL_MODEL_DIR": str(write_toy_models(tmp_path / "models")),
           "BCL_ORT_PROVIDER": "cpu", "BCL_STUDY_DIR": str(tmp_path / "study"),
           "BCL_EVAL_ROOT": str(tmp_path / "eval")}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            # The health endpoint runs no script, so the server stays unvisited.
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("streamlit did not become healthy: " + process.stderr.read().decode()[-2000:])
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.parametrize("deep_link", DEEP_LINKS)
def test_deep_link_opened_first_gets_the_frame(fresh_server: str, deep_link: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{fresh_server}/{deep_link}")
            sidebar = page.locator("[data-testid='stSidebar']")
            # The frame's sidebar: the model version and the notice, from app.py only.
            sidebar.get_by_text(f"Model {TOY_VERSION}").wait_for(timeout=90_000)
            page.wait_for_selector("[data-test-script-state='notRunning']", timeout=90_000)
            text = sidebar.inner_text()
            url = page.url
        finally:
            browser.close()
    assert SYNTHETIC_NOTICE in text
    for title in FRAME_TITLES:
        assert title in text
    assert "reader study" not in text and "study admin" not in text  # legacy file names
    assert url.rstrip("/").endswith(f"/{deep_link}") or deep_link == "consult"
