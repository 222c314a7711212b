"""The consult flow in a real browser on the full-size demo case: seconds per user step.

Usage (figures quoted in docs/app.md came from exactly this)::

    python benchmarks/bench_consult_flow.py            # the models in models/ ($BCL_MODEL_DIR)
    python benchmarks/bench_consult_flow.py --toy      # the toy test models (no trained ones)

Starts ``streamlit run app.py``, opens it in headless Debian chromium, and times each step from
the click to the page's script having finished: load the demo case (and both browser viewers
drawn), mark both points (the demo's "mark it for me": segmentation and outline), predict, switch
the heat map to Type IV (and both viewers drawing it). Chromium gets WebGL 2 through SwiftShader
(``tests/browser_support.py``); benchmarks/bench_browser_viewer.py times the viewer itself.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import launch, wait_viewers  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _idle(page) -> None:  # noqa: ANN001 - playwright Page
    page.wait_for_timeout(400)
    page.wait_for_selector("[data-test-script-state='notRunning']", timeout=300_000)


def main() -> int:
    """Run the flow once; prints seconds per step as a table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--toy", action="store_true", help="use the toy test models")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="folder for a full-page screenshot after each step")
    args = parser.parse_args()
    env = {**os.environ, "BCL_ORT_PROVIDER": os.environ.get("BCL_ORT_PROVIDER", "cpu")}
    env.pop("BCL_DEMO_CASE", None)
    if args.toy:
        from model_fixtures import write_toy_models

        env["BCL_MODEL_DIR"] = str(write_toy_models(tempfile.mkdtemp(prefix="bcl-toy-")))
    from playwright.sync_api import sync_playwright

    from bcl_core.clinic.demo_case import demo_case_dir

    demo_case_dir()  # made once, outside the timing
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steps: dict[str, float] = {}
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.goto(url)
            _idle(page)
            page.get_by_role("tab", name="Demo case").click()
            actions = {
                "load demo case": lambda: page.get_by_role("button", name="Load demo case"),
                "mark both points": lambda: page.get_by_role(
                    "button", name="Demo only: mark the target vertebra for me"),
                "predict": lambda: page.get_by_role("button", name="Predict leakage risk"),
                "heat map Type IV": lambda: page.locator("[data-testid=stRadio]").filter(
                    has_text="Heat map on the images").get_by_text("Type IV: spinal canal"),
            }
            for name, target in actions.items():
                element = target()
                started = time.perf_counter()
                element.click()
                _idle(page)
                if name == "load demo case":
                    wait_viewers(page, 2, timeout_ms=300_000)
                if name == "heat map Type IV":
                    page.wait_for_function(
                        "() => window.__bclViewer.viewers().every(v => "
                        "(v.root.getAttribute('data-bclv-heat') || '').endsWith('-type4'))",
                        timeout=120_000)
                if name == "mark both points":
                    page.get_by_text("Vertebra outlined").nth(1).wait_for(timeout=300_000)
                if name == "predict":
                    page.get_by_text("Model estimate per leakage type").wait_for(
                        timeout=300_000)
                steps[name] = round(time.perf_counter() - started, 2)
                if args.screenshots is not None:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.screenshots / f"{name.replace(' ', '_')}.png"),
                                    full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    for name, seconds in steps.items():
        print(f"{name:20s} {seconds:6.2f} s")
    print(json.dumps(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
