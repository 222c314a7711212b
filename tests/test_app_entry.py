"""Every entry URL gets the app's frame, even as the first visit to a freshly started server.

Streamlit reads the ``pages/`` folder next to app.py as legacy auto-discovered pages until a
session has run ``st.navigation``; a deep link opened first used to show the bare page (file
names in the sidebar, no synthetic-data notice, no model version). Each test starts its own
real server (``streamlit run app.py``) and opens one deep link first in Debian's chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import streamlit_server
from model_fixtures import TOY_VERSION, write_toy_models

from bcl_core import SYNTHETIC_NOTICE

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
#: The URL of each page: its file name without .py (st.Page's default), as a visitor types it.
DEEP_LINKS = ["reader_study", "study_admin", "evaluation", "patient_view", "about", "consult"]
#: Sidebar titles of the frame (app.py), never the raw file names of legacy discovery.
FRAME_TITLES = ["Consult", "Patient view", "Reader study", "Study admin", "Evaluation",
                "About the model"]

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (scripts/test_browser_deps.sh installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture()
def fresh_server(tmp_path: Path) -> Iterator[str]:
    """A newly started app server that no browser has visited yet (the health check that
    waits for it runs no script)."""
    env = {"BCL_MODEL_DIR": str(write_toy_models(tmp_path / "models")),
           "BCL_ORT_PROVIDER": "cpu", "BCL_STUDY_DIR": str(tmp_path / "study"),
           "BCL_EVAL_ROOT": str(tmp_path / "eval")}
    with streamlit_server(env) as url:
        yield url


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
