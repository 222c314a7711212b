"""Real-browser end-to-end test of the consult flow (Playwright + Debian chromium, headless).

Starts ``streamlit run app.py`` on a free port with a toy model set, uploads a zipped DICOM case
through the page, clicks the vertebra on the CT and MRI images, predicts, downloads the PDF and
JSON reports, and checks the four probabilities against ``bcl predict`` run on the same zip with
the points the page reports. A screenshot of the results goes to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import case_uploads, write_small_case, write_toy_models, zip_bytes

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
TYPES = ("type1", "type2", "type3", "type4")
#: Toy fusion weights: probabilities depend on the crops, so the comparison means something.
WEIGHTS = [[0.8, -0.5, 0.3, 1.2, 0.6], [0.4, 0.9, -0.7, 0.5, 0.2]]

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (scripts/test_browser_deps.sh installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("e2e")
    case = write_small_case(base / "case")
    archive = base / "case.zip"
    archive.write_bytes(zip_bytes(case_uploads(case)))
    return {"case": case, "zip": archive, "models": write_toy_models(base / "models", WEIGHTS)}


@pytest.fixture(scope="module")
def server(setup: dict[str, Path]) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "BCL_MODEL_DIR": str(setup["models"]), "BCL_ORT_PROVIDER": "cpu",
           "BCL_DEMO_CASE": str(setup["case"])}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
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


def _wait_idle(page) -> None:  # noqa: ANN001 - playwright Page
    page.wait_for_timeout(400)
    page.wait_for_selector("[data-test-script-state='notRunning']", timeout=90_000)


def _target_pixel(volume_dir: Path, plane: str, point_mm: list[float]) -> tuple[int, int]:
    """Display pixel (row, column) of the middle slice nearest the point, in-plane."""
    from bcl_core.io import load_volume
    from bcl_core.viewer import render_slice

    rendered = render_slice(load_volume(volume_dir), plane)
    normal = {"axial": 2, "sagittal": 0}[plane]
    rows, cols = rendered.rgb.shape[:2]
    grid = [(r, c) for r in range(rows) for c in range(cols)]
    mm = np.array([rendered.pixel_to_mm(r, c) for r, c in grid])
    offsets = np.delete(mm - np.asarray(point_mm), normal, axis=1)
    return grid[int(np.argmin((offsets ** 2).sum(axis=1)))]


def _click_image(page, index: int, row: int, col: int) -> None:  # noqa: ANN001
    frame = page.frame_locator("iframe[data-testid='stCustomComponentV1']").nth(index)
    image = frame.locator("img")
    image.wait_for(timeout=30_000)
    box = image.bounding_box()
    natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    scale = box["width"] / natural[0]
    image.click(position={"x": (col + 0.5) * scale, "y": (row + 0.5) * scale})
    _wait_idle(page)


def test_upload_click_predict_download(server: str, setup: dict[str, Path],
                                       tmp_path: Path) -> None:
    truth = json.loads((setup["case"] / "truth.json").read_text())
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1400}, accept_downloads=True)
        try:
            shown, pdf_path, json_path = _flow(page, server, setup, truth, tmp_path)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "consult_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert pdf_path.read_bytes().startswith(b"%PDF")
    report = json.loads(json_path.read_text())
    labels = ["Type I", "Type II", "Type III", "Type IV"]
    for label, name in zip(labels, TYPES, strict=True):
        assert shown[label] == pytest.approx(100 * report["probabilities"][name], abs=0.051)
    predicted = _bcl_predict(setup, report["ct_point_mm"], report["mr_point_mm"])
    for name in TYPES:
        assert report["probabilities"][name] == pytest.approx(
            predicted["probabilities"][name], abs=1e-5)


def _flow(page, url: str, setup: dict[str, Path], truth: dict,  # noqa: ANN001
          tmp_path: Path) -> tuple[dict[str, float], Path, Path]:
    """Upload, click, predict, download; returns the shown percentages and the two reports."""
    page.goto(url)
    _wait_idle(page)
    assert page.get_by_text("Consult: cement leakage risk").is_visible()
    uploader = page.locator("[data-testid='stFileUploader']").nth(1)
    uploader.locator("input[type='file']").set_input_files(str(setup["zip"]))
    _wait_idle(page)
    page.get_by_role("button", name="Load uploaded case").click()
    _wait_idle(page)
    page.get_by_text("Series used as the axial CT").wait_for()
    for index, (role, plane) in enumerate((("ct", "axial"), ("mr", "sagittal"))):
        row, col = _target_pixel(setup["case"] / role, plane, truth[f"{role}_point_mm"])
        _click_image(page, index, row, col)
        page.get_by_text("Vertebra outlined").nth(index).wait_for(timeout=60_000)
    assert page.get_by_text("Vertebra outlined").count() == 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_text("2. Mark the fractured vertebra").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "consult_marked.png"))
    page.get_by_role("button", name="Predict leakage risk").click()
    _wait_idle(page)
    page.get_by_text("Model estimate per leakage type").wait_for(timeout=90_000)
    # The heading is drawn before the metrics of the same run: wait for the run to finish and
    # for the last metric, so none is read before it exists.
    _wait_idle(page)
    metrics = page.locator("[data-testid='stMetric']")
    metrics.filter(has_text="Type IV").first.wait_for(timeout=30_000)
    shown = {}
    for metric in metrics.all():
        label = metric.locator("[data-testid='stMetricLabel']").inner_text().strip()
        shown[label] = float(metric.locator("[data-testid='stMetricValue']").inner_text()
                             .replace("%", "").strip())
    with page.expect_download() as pdf_download:
        page.get_by_role("button", name="Download PDF report").click()
    pdf_path = tmp_path / "report.pdf"
    pdf_download.value.save_as(pdf_path)
    with page.expect_download() as json_download:
        page.get_by_role("button", name="Download JSON").click()
    json_path = tmp_path / "report.json"
    json_download.value.save_as(json_path)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "consult_results.png"), full_page=True)
    # The heat map of Type IV on both viewers.
    page.get_by_text("Type IV: spinal canal").first.click()
    _wait_idle(page)
    page.get_by_text("2. Mark the fractured vertebra").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "consult_heatmap.png"))
    page.get_by_role("link", name="Explain to the patient (plain-language view)").click()
    _wait_idle(page)
    page.get_by_text("Your estimated risk").wait_for(timeout=30_000)
    page.get_by_text("Your estimated risk").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "patient_view.png"))
    return shown, pdf_path, json_path


def _bcl_predict(setup: dict[str, Path], ct_point: list[float], mr_point: list[float]
                 ) -> dict[str, dict[str, float]]:
    def point(values: list[float]) -> str:
        return ",".join(repr(float(v)) for v in values)

    env = {**os.environ, "BCL_MODEL_DIR": str(setup["models"]), "BCL_ORT_PROVIDER": "cpu"}
    done = subprocess.run(["bcl", "predict", str(setup["zip"]), f"--ct-point={point(ct_point)}",
                           f"--mr-point={point(mr_point)}", "--json"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
